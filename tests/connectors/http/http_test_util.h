// Helpers for the HTTP connector tests: build a connector from YAML text
// (the dispatcher's YamlConfigFields), a message, form decoding, base64.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <string>

#include "cairn/connector.h"
#include "dispatch/config_fields.h"

namespace cairn::testing {

// Configures `factory` from `yaml` as connectors.<name> and makes one
// connector; fails when the config is refused or has an unread key.
inline Result<std::unique_ptr<Connector>> MakeConnector(const ConnectorFactory& factory,
                                                        const std::string& yaml,
                                                        const std::string& name = "x") {
  auto fields = dispatch::YamlConfigFields::FromText(yaml, "cairn.yaml", "connectors." + name);
  if (!fields.ok()) return fields.status();
  auto maker = factory.Configure(*fields.value(), ConnectorContext{name, ""});
  if (!maker.ok()) return maker.status();
  CAIRN_RETURN_IF_ERROR(fields.value()->CheckAllRead());
  return maker.value()();
}

// The error of a refused config ("" when it was accepted).
inline std::string ConfigError(const ConnectorFactory& factory, const std::string& yaml,
                               const std::string& name = "x") {
  auto c = MakeConnector(factory, yaml, name);
  return c.ok() ? std::string() : c.status().message();
}

inline void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

inline std::string Base64(const std::string& in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned n = (static_cast<unsigned char>(in[i]) << 16) |
                       (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  if (i + 1 == in.size()) {
    const unsigned n = static_cast<unsigned char>(in[i]) << 16;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    const unsigned n =
        (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += '=';
  }
  return out;
}

// application/x-www-form-urlencoded -> map ('+' is a space).
inline std::map<std::string, std::string> DecodeForm(const std::string& body) {
  auto decode = [](const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '+') {
        out += ' ';
      } else if (s[i] == '%' && i + 2 < s.size()) {
        out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
        i += 2;
      } else {
        out += s[i];
      }
    }
    return out;
  };
  std::map<std::string, std::string> out;
  size_t start = 0;
  while (start <= body.size()) {
    size_t end = body.find('&', start);
    if (end == std::string::npos) end = body.size();
    const std::string pair = body.substr(start, end - start);
    const size_t eq = pair.find('=');
    if (!pair.empty()) {
      out[decode(pair.substr(0, eq))] = eq == std::string::npos ? "" : decode(pair.substr(eq + 1));
    }
    start = end + 1;
  }
  return out;
}

// An RFC 9110 IMF-fixdate `seconds` from now.
inline std::string HttpDateIn(int seconds) {
  const std::time_t t =
      std::chrono::system_clock::to_time_t(std::chrono::system_clock::now()) + seconds;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

}  // namespace cairn::testing

namespace cairn {
inline void PrintTo(const SendResult& r, std::ostream* os) {
  *os << "{" << SendOutcomeName(r.outcome) << " code=" << r.code << " id='" << r.provider_id
      << "' rejected=" << r.recipient_rejected << " retry_after_ms=" << r.retry_after_ms
      << " detail='" << r.detail << "'}";
}
inline void PrintTo(SendOutcome o, std::ostream* os) { *os << SendOutcomeName(o); }
}  // namespace cairn
