// A small, independent MIME reader for the SMTP tests: decodes what the
// connector encoded (RFC 2047 words, quoted-printable, base64, multipart)
// so a test compares the decoded result with its input. Written from the
// RFCs, sharing no code with connectors/smtp. Input has LF line ends (as
// smtp-sink dumps it).
#pragma once

#include <cctype>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "smtp_sink.h"

namespace cairn::testing::mime {

inline int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

inline std::string DecodeBase64(std::string_view in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (const char c : in) {
    const int v = value(c);
    if (v < 0) continue;  // line breaks, padding
    buffer = (buffer << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xFF);
    }
  }
  return out;
}

// Quoted-printable: "=\n" is a soft break, "=XX" an octet.
inline std::string DecodeQuotedPrintable(std::string_view in) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '=') {
      out += in[i];
      continue;
    }
    if (i + 1 < in.size() && in[i + 1] == '\n') {
      ++i;
    } else if (i + 2 < in.size() && in[i + 1] == '\r' && in[i + 2] == '\n') {
      i += 2;
    } else if (i + 2 < in.size() && HexValue(in[i + 1]) >= 0 && HexValue(in[i + 2]) >= 0) {
      out += static_cast<char>(HexValue(in[i + 1]) * 16 + HexValue(in[i + 2]));
      i += 2;
    } else {
      out += '=';  // not valid QP: kept, the test's comparison will show it
    }
  }
  return out;
}

// An unfolded header value with RFC 2047 encoded words (B or Q) decoded;
// whitespace between two encoded words is dropped.
inline std::string DecodeHeader(std::string_view value) {
  std::string out;
  size_t i = 0;
  bool last_was_word = false;
  std::string pending_space;
  while (i < value.size()) {
    if (value.substr(i, 2) == "=?") {
      const size_t q1 = value.find('?', i + 2);
      const size_t q2 = q1 == std::string_view::npos ? q1 : value.find('?', q1 + 1);
      const size_t end = q2 == std::string_view::npos ? q2 : value.find("?=", q2 + 1);
      if (end != std::string_view::npos) {
        const char enc = static_cast<char>(std::toupper(static_cast<unsigned char>(value[q1 + 1])));
        const std::string_view text = value.substr(q2 + 1, end - q2 - 1);
        std::string decoded;
        if (enc == 'B') {
          decoded = DecodeBase64(text);
        } else {
          std::string t(text);
          for (char& c : t) {
            if (c == '_') c = ' ';
          }
          decoded = DecodeQuotedPrintable(t);
        }
        if (!last_was_word) out += pending_space;
        pending_space.clear();
        out += decoded;
        last_was_word = true;
        i = end + 2;
        continue;
      }
    }
    if (value[i] == ' ' || value[i] == '\t') {
      pending_space += value[i];
      ++i;
      continue;
    }
    out += pending_space;
    pending_space.clear();
    out += value[i];
    last_was_word = false;
    ++i;
  }
  if (!last_was_word) out += pending_space;
  return out;
}

// A header block plus body, as in a message or a body part.
struct Entity {
  std::multimap<std::string, std::string, CaseInsensitiveLess> headers;
  std::string body;
  std::string Header(std::string_view name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

inline Entity ParseEntity(std::string_view text) {
  Entity e;
  size_t pos = 0;
  std::string name, value;
  auto flush = [&] {
    if (!name.empty()) e.headers.emplace(name, value);
    name.clear();
    value.clear();
  };
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.empty()) break;
    if (line.front() == ' ' || line.front() == '\t') {
      value += line;
      continue;
    }
    flush();
    const size_t colon = line.find(':');
    name = std::string(line.substr(0, colon));
    std::string_view v = colon == std::string_view::npos ? "" : line.substr(colon + 1);
    while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
    value = std::string(v);
  }
  flush();
  if (pos < text.size()) e.body = std::string(text.substr(pos));
  return e;
}

// The parameter `name` of a header value like `multipart/alternative; boundary="x"`.
inline std::string Param(std::string_view value, std::string_view name) {
  const std::string key = std::string(name) + "=";
  const size_t p = value.find(key);
  if (p == std::string_view::npos) return "";
  std::string_view v = value.substr(p + key.size());
  if (!v.empty() && v.front() == '"') {
    v.remove_prefix(1);
    return std::string(v.substr(0, v.find('"')));
  }
  return std::string(v.substr(0, v.find_first_of("; ")));
}

// The body parts of a multipart body (the LF before each delimiter belongs
// to the delimiter).
inline std::vector<Entity> SplitMultipart(std::string_view body, const std::string& boundary) {
  std::vector<Entity> parts;
  const std::string delimiter = "--" + boundary;
  size_t pos = body.find(delimiter);
  while (pos != std::string_view::npos) {
    size_t start = pos + delimiter.size();
    if (body.substr(start, 2) == "--") break;  // the close delimiter
    start = body.find('\n', start);
    if (start == std::string_view::npos) break;
    ++start;
    const size_t next = body.find("\n" + delimiter, start);
    if (next == std::string_view::npos) break;
    parts.push_back(ParseEntity(body.substr(start, next - start)));
    pos = next + 1;
  }
  return parts;
}

// The entity's body with its Content-Transfer-Encoding undone.
inline std::string DecodedBody(const Entity& e) {
  std::string cte = e.Header("Content-Transfer-Encoding");
  for (char& c : cte) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (cte == "base64") return DecodeBase64(e.body);
  if (cte == "quoted-printable") return DecodeQuotedPrintable(e.body);
  return e.body;
}

}  // namespace cairn::testing::mime
