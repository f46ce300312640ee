// Helpers for the HTTP API tests: a libcurl client (plain and TLS) and a
// self-signed certificate made with the OpenSSL API (no openssl binary).
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace cairn::testing {

struct Fetched {
  int status = 0;  // 0 = no answer (connect or TLS failure)
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-case
  std::string error;                                         // curl's, when status is 0
  std::string Header(const std::string& lower_name) const;
};

struct FetchOptions {
  std::string method = "GET";
  std::string body;
  std::string bearer;                // Authorization: Bearer <bearer> when set
  std::string cainfo;                // PEM file to verify a https:// server against
  std::vector<std::string> headers;  // "Name: value"
};

// One request with a 10 s timeout; never follows redirects.
Fetched Fetch(const std::string& url, const FetchOptions& options = {});

// Writes a fresh P-256 key and a self-signed certificate for 127.0.0.1
// (CN and subjectAltName IP) valid for an hour. False on failure.
bool MakeSelfSignedCert(const std::string& cert_path, const std::string& key_path);

}  // namespace cairn::testing
