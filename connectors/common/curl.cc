#include "common/curl.h"

#include <mutex>

namespace cairn::connectors {

void CurlGlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

CurlEasy::CurlEasy() {
  CurlGlobalInit();
  h_ = curl_easy_init();
}

CurlEasy::~CurlEasy() {
  if (h_ != nullptr) curl_easy_cleanup(h_);
}

std::string CurlEasy::ErrorText(CURLcode code) const {
  if (error_[0] != '\0') return error_;
  return curl_easy_strerror(code);
}

bool CurlNotSent(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_PEER_FAILED_VERIFICATION:
      return true;
    default:
      return false;
  }
}

bool CurlTimedOut(CURLcode code) { return code == CURLE_OPERATION_TIMEDOUT; }

}  // namespace cairn::connectors
