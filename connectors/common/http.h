// The HTTP half of the connectors (sms_http, push_fcm, webhook): one place
// that performs a request with libcurl, reads the answer and classifies it.
//
//   HttpOptions / ReadHttpOptions  the common config keys (timeout,
//                                  connect_timeout, ca_file,
//                                  insecure_skip_verify, headers)
//   HttpClient                     one reusable connection (CurlEasy); adds
//                                  User-Agent and Idempotency-Key
//   ClassifyHttp                   transport error or status -> SendResult
//   ParseRetryAfterMs              Retry-After in seconds or as an HTTP-date
//   SecretFile                     a secret read from a file, re-read when
//                                  the file changes (rotated tokens)
//
// Classification (every HTTP connector):
//   2xx                         kAccepted
//   408, 429, 5xx               kRetryable, code, retry_after_ms from Retry-After
//   other 4xx (and 1xx, 3xx)    kPermanent, detail = the body's error message
//   not sent (refused, DNS, TLS handshake)      kRetryable, code 0
//   timeout / cut after the request went out    kUnknown, code 0
//
// Threads: an HttpClient (like the Connector that owns it) is used by one
// thread at a time; the free functions are thread-safe.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cairn/connector.h"
#include "cairn/status.h"
#include "common/curl.h"

namespace cairn::connectors {

inline constexpr std::string_view kUserAgent = "cairn/0.1";
// Longest error detail taken from a response body.
inline constexpr size_t kMaxDetail = 300;

struct HttpOptions {
  int64_t timeout_ms = 10'000;         // the whole request
  int64_t connect_timeout_ms = 5'000;  // TCP (+TLS) connect
  std::string ca_file;                 // PEM bundle; empty = the system's
  bool insecure_skip_verify = false;   // no peer/host verification (tests only)
  // Extra headers sent on every request (config `headers`).
  std::vector<std::pair<std::string, std::string>> headers;
  // CURLOPT_HTTP_VERSION: CURL_HTTP_VERSION_1_1, _2TLS, _2_PRIOR_KNOWLEDGE.
  long http_version = CURL_HTTP_VERSION_1_1;  // NOLINT(runtime/int): libcurl's type
};

// Reads the common keys. `reserved` lists header names (lower case) the
// connector sets itself; a `headers` entry naming one of them, or the
// always-reserved user-agent, idempotency-key, content-type,
// content-length, host, transfer-encoding and expect, is a config error
// naming `headers`.
Result<HttpOptions> ReadHttpOptions(ConfigFields& fields,
                                    const std::set<std::string>& reserved = {});

// Reads `key` as an http:// or https:// URL with a host; a trailing '/' is
// dropped. Errors name `key`.
Result<std::string> ReadHttpUrl(ConfigFields& fields, std::string_view key,
                                std::optional<std::string> fallback = std::nullopt);

struct HttpRequest {
  std::string method = "POST";
  std::string url;
  // Request headers as name/value pairs (besides the common ones).
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // Sent as `Idempotency-Key` when not empty.
  std::string idempotency_key;
  // HTTP basic auth when `basic_user` is not empty.
  std::string basic_user;
  std::string basic_password;
  // Overrides HttpOptions::timeout_ms when > 0 (a caller's remaining budget).
  int64_t timeout_ms = 0;
};

struct HttpResponse {
  CURLcode curl_code = CURLE_OK;  // CURLE_OK = an answer came back
  std::string error;              // libcurl's text when curl_code != CURLE_OK
  int status = 0;                 // HTTP status; 0 = none
  long http_version = 0;          // NOLINT(runtime/int): CURLINFO_HTTP_VERSION
  // Response headers, names lower-cased, of the final response.
  std::multimap<std::string, std::string> headers;
  std::string body;  // at most kMaxBody bytes are kept

  static constexpr size_t kMaxBody = 1 << 20;

  // The first value of header `name` (any case).
  std::optional<std::string> Header(std::string_view name) const;
};

// One connection to reuse between requests (libcurl keeps it open). Owned
// by one connector instance, so one thread at a time.
class HttpClient {
 public:
  explicit HttpClient(HttpOptions options);
  // Adds User-Agent, Idempotency-Key and the configured extra headers, then
  // performs the request. Never throws; blocks at most the timeout.
  HttpResponse Perform(const HttpRequest& request);
  const HttpOptions& options() const { return options_; }

 private:
  HttpOptions options_;
  CurlEasy easy_;
};

// Retry-After (RFC 9110 10.2.3): delta-seconds or an HTTP-date, as ms from
// `now` (a date in the past gives 0). -1 when empty or malformed.
int64_t ParseRetryAfterMs(std::string_view value, std::chrono::system_clock::time_point now =
                                                      std::chrono::system_clock::now());

// The error message in a response body, on one line and at most kMaxDetail
// bytes: JSON `message`, `error.message`, `error` (a string),
// `error_description` or `detail` when the body is such JSON, else the text.
std::string BodyErrorMessage(std::string_view body);

// Classifies a response by the common table above. detail: "HTTP 503:
// <body message>" or the transport error.
SendResult ClassifyHttp(const HttpResponse& response);

// Whether `value` may go in a header value (visible ASCII and spaces, no
// CR/LF), e.g. a task id used as Idempotency-Key.
bool IsHeaderSafe(std::string_view value);

// URL-encodes `s` (RFC 3986 unreserved characters kept).
std::string UrlEncode(std::string_view s);

// A secret held in a file (a mounted Kubernetes Secret). Load reads it
// through ConfigFields::Secret (errors name `key`); Get() re-reads the file
// when it changed since (mtime, size or inode), so a rotated token is
// picked up without a restart. A re-read that fails or finds the file
// empty keeps the previous value. Copies are independent (one per
// connector instance, one thread each).
class SecretFile {
 public:
  static Result<SecretFile> Load(ConfigFields& fields, std::string_view key);
  // A fixed value (tests).
  static SecretFile Fixed(std::string value);
  const std::string& Get();
  const std::string& path() const { return path_; }

 private:
  struct Stamp {
    int64_t mtime_ns = 0;
    int64_t size = -1;
    uint64_t inode = 0;
    bool operator==(const Stamp&) const = default;
  };
  static std::optional<Stamp> StampOf(const std::string& path);

  std::string path_;
  std::string value_;
  Stamp stamp_;
};

}  // namespace cairn::connectors
