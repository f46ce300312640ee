// libcurl behind RAII, shared by the connectors that speak SMTP and HTTP.
//
// CurlEasy owns one easy handle; reusing it across sends keeps the
// connection open (libcurl's connection cache). One thread at a time, like
// the Connector that owns it. CurlGlobalInit() runs curl_global_init once
// per process (thread-safe).
#pragma once

#include <curl/curl.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace cairn::connectors {

void CurlGlobalInit();

struct CurlSlistFree {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
// A header list: Append("Name: value").
class CurlHeaders {
 public:
  void Append(const std::string& line) {
    list_.reset(curl_slist_append(list_.release(), line.c_str()));
  }
  curl_slist* get() const { return list_.get(); }

 private:
  std::unique_ptr<curl_slist, CurlSlistFree> list_;
};

class CurlEasy {
 public:
  CurlEasy();
  ~CurlEasy();
  CurlEasy(const CurlEasy&) = delete;
  CurlEasy& operator=(const CurlEasy&) = delete;

  CURL* get() const { return h_; }
  // curl_easy_reset: options back to defaults, connections kept.
  void Reset() { curl_easy_reset(h_); }
  // The libcurl error text of the last perform (CURLOPT_ERRORBUFFER), or the
  // generic text of `code` when the buffer is empty.
  std::string ErrorText(CURLcode code) const;
  char* error_buffer() { return error_; }

 private:
  CURL* h_;
  char error_[CURL_ERROR_SIZE] = {};
};

// Whether a libcurl error means the request never reached the peer
// (connection refused, DNS, TLS handshake): retryable, the message was not
// taken. Timeouts and errors mid-transfer are "unknown" instead.
bool CurlNotSent(CURLcode code);
// Whether it was a timeout.
bool CurlTimedOut(CURLcode code);

}  // namespace cairn::connectors
