#include "smtp/smtp_message.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <functional>

namespace cairn::connectors::smtp {
namespace {

constexpr char kHex[] = "0123456789ABCDEF";

bool IsAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// RFC 5322 atext.
bool IsAtext(char c) {
  if (IsAlnum(c)) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '/':
    case '=':
    case '?':
    case '^':
    case '_':
    case '`':
    case '{':
    case '|':
    case '}':
    case '~':
      return true;
    default:
      return false;
  }
}

bool IsPrintableAscii(char c) { return c >= 0x20 && c <= 0x7e; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Header text with line breaks and tabs as spaces and other controls dropped.
std::string Flatten(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') continue;  // CRLF: one space
    if (c == '\r' || c == '\n' || c == '\t') {
      out += ' ';
    } else if ((c >= 0 && c < 0x20) || c == 0x7f) {
      continue;
    } else {
      out += c;
    }
  }
  return out;
}

// RFC 2047 "B" encoded words, split on UTF-8 character boundaries, joined
// by folding whitespace. Each line stays within 76 octets.
std::string EncodedWords(std::string_view text, size_t prefix_len) {
  constexpr size_t kLine = 76;
  constexpr size_t kOverhead = 12;  // "=?UTF-8?B?" "?="
  std::string out;
  size_t pos = 0;
  bool first = true;
  while (pos < text.size()) {
    const size_t used = first ? prefix_len : 1;
    size_t max_bytes = used + kOverhead < kLine ? (kLine - used - kOverhead) / 4 * 3 : 0;
    if (!first) {
      out += "\r\n ";
    } else if (max_bytes < 6) {  // no room after a long prefix: start on the next line
      out += "\r\n ";
      max_bytes = (kLine - 1 - kOverhead) / 4 * 3;
    }
    size_t end = std::min(text.size(), pos + max_bytes);
    // Back off to a character boundary (not inside a UTF-8 sequence).
    if (end < text.size()) {
      size_t e = end;
      while (e > pos && (static_cast<unsigned char>(text[e]) & 0xC0) == 0x80) --e;
      if (e > pos) end = e;
    }
    out += "=?UTF-8?B?";
    out += Base64(text.substr(pos, end - pos));
    out += "?=";
    pos = end;
    first = false;
  }
  return out;
}

std::string HexByte(unsigned char c) {
  std::string s = "=";
  s += kHex[c >> 4];
  s += kHex[c & 0xF];
  return s;
}

}  // namespace

bool IsValidDomain(std::string_view domain) {
  if (domain.empty() || domain.size() > 253) return false;
  size_t label = 0;
  char prev = '.';
  for (const char c : domain) {
    if (c == '.') {
      if (label == 0 || prev == '-') return false;
      label = 0;
    } else if (IsAlnum(c) || c == '-') {
      if (label == 0 && c == '-') return false;
      if (++label > 63) return false;
    } else {
      return false;
    }
    prev = c;
  }
  return label > 0 && prev != '-';
}

bool IsValidAddress(std::string_view address) {
  const size_t at = address.rfind('@');
  if (at == std::string_view::npos || address.size() > 254) return false;
  const std::string_view local = address.substr(0, at);
  if (local.empty() || local.size() > 64 || local.front() == '.' || local.back() == '.') {
    return false;
  }
  char prev = 0;
  for (const char c : local) {
    if (c == '.' && prev == '.') return false;
    if (c != '.' && !IsAtext(c)) return false;
    prev = c;
  }
  return IsValidDomain(address.substr(at + 1));
}

Result<Mailbox> ParseMailbox(std::string_view text) {
  for (const char c : text) {
    if (c == '\r' || c == '\n' || c == '\0') {
      return InvalidArgument("a mailbox cannot contain line breaks");
    }
  }
  text = Trim(text);
  if (text.empty()) return InvalidArgument("the address is empty");
  Mailbox m;
  if (text.back() == '>') {
    const size_t lt = text.rfind('<');
    if (lt == std::string_view::npos) return InvalidArgument("'>' without '<'");
    m.address = std::string(Trim(text.substr(lt + 1, text.size() - lt - 2)));
    std::string_view name = Trim(text.substr(0, lt));
    if (name.size() >= 2 && name.front() == '"' && name.back() == '"') {
      name = name.substr(1, name.size() - 2);
      for (size_t i = 0; i < name.size(); ++i) {
        if (name[i] == '\\' && i + 1 < name.size()) ++i;
        m.name += name[i];
      }
    } else {
      if (name.find('"') != std::string_view::npos) {
        return InvalidArgument("unbalanced quotes in the display name");
      }
      m.name = std::string(name);
    }
  } else {
    m.address = std::string(text);
  }
  if (!IsValidAddress(m.address)) {
    return InvalidArgument("'" + m.address + "' is not an address of the form local@domain");
  }
  return m;
}

std::string FormatMailbox(const Mailbox& mailbox, size_t prefix_len) {
  const std::string name = Flatten(mailbox.name);
  if (Trim(name).empty()) return mailbox.address;
  bool ascii = true;
  bool phrase = true;  // atoms and spaces only: no quoting needed
  for (const char c : name) {
    if (!IsPrintableAscii(c)) ascii = false;
    if (!IsAtext(c) && c != ' ') phrase = false;
  }
  if (name.find("=?") != std::string::npos) ascii = false;
  std::string out;
  if (!ascii) {
    out = EncodedWords(name, prefix_len) + " ";
  } else if (phrase) {
    out = name + " ";
  } else {
    out = "\"";
    for (const char c : name) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += "\" ";
  }
  return out + "<" + mailbox.address + ">";
}

std::string EncodeHeaderText(std::string_view text, size_t prefix_len) {
  const std::string flat = Flatten(text);
  bool ascii = flat.find("=?") == std::string::npos;
  for (const char c : flat) {
    if (!IsPrintableAscii(c)) ascii = false;
  }
  if (ascii) {
    // Fold before a space when the line would pass 78 octets.
    std::string out;
    size_t line = prefix_len;
    size_t longest = 0;
    size_t start = 0;
    while (start <= flat.size()) {
      size_t sp = flat.find(' ', start);
      if (sp == std::string::npos) sp = flat.size();
      const std::string_view word(flat.data() + start, sp - start);
      if (start > 0) {
        if (line + 1 + word.size() > 78 && line > 1) {
          out += "\r\n";
          line = 0;
        }
        out += ' ';
        ++line;
      }
      out += word;
      line += word.size();
      longest = std::max(longest, line);
      start = sp + 1;
    }
    if (longest <= 998) return out;
  }
  return EncodedWords(flat, prefix_len);
}

std::string QuotedPrintable(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  size_t line = 0;
  auto emit = [&](std::string token) {
    if (line + token.size() > 75) {
      out += "=\r\n";
      line = 0;
    }
    if (line == 0 && token == ".") token = "=2E";
    out += token;
    line += token.size();
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\r' || c == '\n') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      out += "\r\n";
      line = 0;
      continue;
    }
    const bool at_eol = i + 1 == text.size() || text[i + 1] == '\r' || text[i + 1] == '\n';
    if ((c == ' ' || c == '\t') && !at_eol) {
      emit(std::string(1, c));
    } else if (c > ' ' && c <= '~' && c != '=') {
      emit(std::string(1, c));
    } else {
      emit(HexByte(static_cast<unsigned char>(c)));
    }
  }
  return out;
}

std::string Base64(std::string_view bytes, size_t line_len) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4 + (line_len ? bytes.size() / line_len * 2 + 2 : 0));
  size_t line = 0;
  auto put = [&](char c) {
    if (line_len != 0 && line == line_len) {
      out += "\r\n";
      line = 0;
    }
    out += c;
    ++line;
  };
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t n = (static_cast<uint32_t>(static_cast<unsigned char>(bytes[i])) << 16) |
                       (static_cast<uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8) |
                       static_cast<uint32_t>(static_cast<unsigned char>(bytes[i + 2]));
    put(kAlphabet[(n >> 18) & 63]);
    put(kAlphabet[(n >> 12) & 63]);
    put(kAlphabet[(n >> 6) & 63]);
    put(kAlphabet[n & 63]);
  }
  if (i < bytes.size()) {
    uint32_t n = static_cast<uint32_t>(static_cast<unsigned char>(bytes[i])) << 16;
    const bool two = i + 1 < bytes.size();
    if (two) n |= static_cast<uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8;
    put(kAlphabet[(n >> 18) & 63]);
    put(kAlphabet[(n >> 12) & 63]);
    put(two ? kAlphabet[(n >> 6) & 63] : '=');
    put('=');
  }
  return out;
}

std::string Rfc5322Date(std::chrono::system_clock::time_point time) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const std::time_t t = std::chrono::system_clock::to_time_t(time);
  std::tm g{};
  gmtime_r(&t, &g);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %d %s %04d %02d:%02d:%02d +0000", kDays[g.tm_wday % 7],
                g.tm_mday, kMonths[g.tm_mon % 12], g.tm_year + 1900, g.tm_hour, g.tm_min, g.tm_sec);
  return buf;
}

std::string MessageIdLocalPart(std::string_view task_id) {
  std::string out;
  out.reserve(task_id.size());
  for (const char c : task_id) {
    if (IsAtext(c) && c != '%') {
      out += c;
    } else {
      const auto u = static_cast<unsigned char>(c);
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 0xF];
    }
  }
  return out;
}

std::string QueueIdFromReply(std::string_view reply) {
  // The last line of a multi-line reply carries the text.
  while (!reply.empty() && (reply.back() == '\r' || reply.back() == '\n')) reply.remove_suffix(1);
  if (const size_t nl = reply.rfind('\n'); nl != std::string_view::npos) {
    reply.remove_prefix(nl + 1);
  }
  auto token_at = [&](size_t pos) {
    size_t end = pos;
    while (end < reply.size() && reply[end] != ' ' && reply[end] != '\r' && reply[end] != ';' &&
           reply[end] != ',' && reply[end] != ')' && reply[end] != '>') {
      ++end;
    }
    return std::string(reply.substr(pos, end - pos));
  };
  auto find_ci = [&](std::string_view needle) -> size_t {
    for (size_t i = 0; i + needle.size() <= reply.size(); ++i) {
      bool eq = true;
      for (size_t j = 0; j < needle.size() && eq; ++j) {
        eq = std::tolower(static_cast<unsigned char>(reply[i + j])) == needle[j];
      }
      if (eq) return i;
    }
    return std::string_view::npos;
  };
  if (size_t p = find_ci("queued as "); p != std::string_view::npos) {
    return token_at(p + 10);
  }
  if (size_t p = find_ci("id="); p != std::string_view::npos) return token_at(p + 3);
  return "";
}

Result<std::string> BuildMessage(const EmailParts& parts) {
  if (!parts.has_text && !parts.has_html) {
    return InvalidArgument("the message has neither a text nor an html body");
  }
  if (parts.task_id.empty()) return InvalidArgument("the message has no task id");
  for (const char c : parts.unsubscribe_url) {
    if (!IsPrintableAscii(c) || c == ' ' || c == '<' || c == '>') {
      return InvalidArgument(
          "unsubscribe_url must be an ASCII URL without spaces or angle brackets");
    }
  }
  if (parts.unsubscribe_url.size() > 900) return InvalidArgument("unsubscribe_url is too long");

  std::string m;
  m.reserve(1024 + parts.text.size() * 11 / 10 + parts.html.size() * 11 / 10);
  auto header = [&](std::string_view name, std::string_view value) {
    m.append(name).append(": ").append(value).append("\r\n");
  };
  header("Date", Rfc5322Date(parts.date));
  header("From", FormatMailbox(parts.from));
  if (!parts.reply_to.address.empty()) header("Reply-To", FormatMailbox(parts.reply_to, 10));
  header("To", FormatMailbox(parts.to, 4));
  header("Subject", EncodeHeaderText(parts.subject, 9));
  header("Message-ID",
         "<" + MessageIdLocalPart(parts.task_id) + "@" + parts.message_id_domain + ">");
  header("MIME-Version", "1.0");
  if (!parts.unsubscribe_url.empty()) {
    header("List-Unsubscribe", "<" + parts.unsubscribe_url + ">");
    header("List-Unsubscribe-Post", "List-Unsubscribe=One-Click");
  }
  header("X-Cairn-Task-Id", EncodeHeaderText(parts.task_id, 17));
  header("X-Cairn-Journey", EncodeHeaderText(parts.journey, 17));
  header("X-Cairn-Step", EncodeHeaderText(parts.step, 14));

  // Quoted-printable reads well and stays small for mostly-ASCII text; a
  // body that is mostly non-ASCII (CJK, emoji) is smaller in base64.
  // In a multipart body the CRLF before a boundary belongs to the boundary,
  // so one is always added; a single part gets one only if it lacks it
  // (the end of DATA needs it anyway).
  auto body_part = [](std::string_view subtype, std::string_view body, bool multipart) {
    size_t escaped = 0;
    for (const char c : body) {
      if (!IsPrintableAscii(c) && c != '\n' && c != '\r') ++escaped;
    }
    const bool b64 = escaped * 3 > body.size();
    std::string p;
    p.append("Content-Type: text/").append(subtype).append("; charset=utf-8\r\n");
    p.append("Content-Transfer-Encoding: ")
        .append(b64 ? "base64" : "quoted-printable")
        .append("\r\n\r\n");
    p.append(b64 ? Base64(body, 76) : QuotedPrintable(body));
    if (multipart || p.size() < 2 || p.compare(p.size() - 2, 2, "\r\n") != 0) p.append("\r\n");
    return p;
  };
  if (parts.has_text && parts.has_html) {
    // QP and base64 output never contain "=_", so neither body can hold
    // this boundary.
    char hash[17];
    std::snprintf(hash, sizeof hash, "%016zx", std::hash<std::string>()(parts.task_id));
    const std::string boundary = std::string("=_cairn_") + hash;
    header("Content-Type", "multipart/alternative; boundary=\"" + boundary + "\"");
    m.append("\r\n");
    m.append("--").append(boundary).append("\r\n");
    m.append(body_part("plain", parts.text, true));
    m.append("--").append(boundary).append("\r\n");
    m.append(body_part("html", parts.html, true));
    m.append("--").append(boundary).append("--\r\n");
  } else {
    // The part's own Content-Type and -Transfer-Encoding end the header.
    m.append(body_part(parts.has_text ? "plain" : "html", parts.has_text ? parts.text : parts.html,
                       false));
  }
  return m;
}

}  // namespace cairn::connectors::smtp
