#include "common/http.h"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cairn/files.h"

namespace cairn::connectors {

namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) != 0) continue;
    if (std::string_view("!#$%&'*+-.^_`|~").find(c) == std::string_view::npos) return false;
  }
  return true;
}

std::string Trim(std::string_view s) {
  size_t b = 0;
  size_t e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t' || s[b] == '\r' || s[b] == '\n')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\r' || s[e - 1] == '\n')) {
    --e;
  }
  return std::string(s.substr(b, e - b));
}

// One line, at most kMaxDetail bytes (not cutting a UTF-8 sequence).
std::string OneLine(std::string_view s) {
  std::string out;
  out.reserve(std::min(s.size(), kMaxDetail));
  bool space = false;
  for (char c : s) {
    if (c == '\r' || c == '\n' || c == '\t') c = ' ';
    if (c == ' ') {
      if (space || out.empty()) continue;
      space = true;
    } else {
      space = false;
    }
    out.push_back(c);
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  if (out.size() > kMaxDetail) {
    size_t cut = kMaxDetail;
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
    out.resize(cut);
    out += "...";
  }
  return out;
}

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* r = static_cast<HttpResponse*>(user);
  const size_t len = size * n;
  const size_t room = HttpResponse::kMaxBody - std::min(r->body.size(), HttpResponse::kMaxBody);
  r->body.append(data, std::min(len, room));
  return len;
}

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* r = static_cast<HttpResponse*>(user);
  const size_t len = size * n;
  const std::string_view line(data, len);
  // A new status line starts a new header block (1xx, or a retried
  // connection): keep only the final response's headers.
  if (line.substr(0, 5) == "HTTP/") {
    r->headers.clear();
    return len;
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return len;
  r->headers.emplace(Lower(Trim(line.substr(0, colon))), Trim(line.substr(colon + 1)));
  return len;
}

}  // namespace

std::optional<std::string> HttpResponse::Header(std::string_view name) const {
  auto it = headers.find(Lower(name));
  if (it == headers.end()) return std::nullopt;
  return it->second;
}

Result<HttpOptions> ReadHttpOptions(ConfigFields& fields, const std::set<std::string>& reserved) {
  HttpOptions o;
  auto timeout = fields.DurationMs("timeout", o.timeout_ms);
  if (!timeout.ok()) return timeout.status();
  if (timeout.value() <= 0) return fields.Invalid("timeout", "must be more than 0");
  o.timeout_ms = timeout.value();
  auto connect = fields.DurationMs("connect_timeout", o.connect_timeout_ms);
  if (!connect.ok()) return connect.status();
  if (connect.value() <= 0) return fields.Invalid("connect_timeout", "must be more than 0");
  o.connect_timeout_ms = connect.value();
  auto ca = fields.String("ca_file", "");
  if (!ca.ok()) return ca.status();
  if (!ca.value().empty() && !std::ifstream(ca.value()).good()) {
    return fields.Invalid("ca_file", "cannot read '" + ca.value() + "'");
  }
  o.ca_file = ca.value();
  auto insecure = fields.Bool("insecure_skip_verify", false);
  if (!insecure.ok()) return insecure.status();
  o.insecure_skip_verify = insecure.value();
  auto headers = fields.StringMap("headers");
  if (!headers.ok()) return headers.status();
  static const std::set<std::string> kAlways = {
      "user-agent", "idempotency-key",   "content-type", "content-length",
      "host",       "transfer-encoding", "expect",       "connection",
  };
  for (const auto& [name, value] : headers.value()) {
    if (!IsToken(name)) return fields.Invalid("headers", "'" + name + "' is not a header name");
    const std::string lower = Lower(name);
    if (kAlways.count(lower) != 0 || reserved.count(lower) != 0) {
      return fields.Invalid("headers", "'" + name + "' is set by the connector");
    }
    if (!IsHeaderSafe(value)) {
      return fields.Invalid("headers", "the value of '" + name + "' has control characters");
    }
    o.headers.emplace_back(name, value);
  }
  return o;
}

Result<std::string> ReadHttpUrl(ConfigFields& fields, std::string_view key,
                                std::optional<std::string> fallback) {
  auto url = fields.String(key, std::move(fallback));
  if (!url.ok()) return url.status();
  std::string u = url.value();
  std::string_view rest;
  if (u.rfind("http://", 0) == 0) {
    rest = std::string_view(u).substr(7);
  } else if (u.rfind("https://", 0) == 0) {
    rest = std::string_view(u).substr(8);
  } else {
    return fields.Invalid(key, "must start with http:// or https://, not '" + u + "'");
  }
  const size_t end = rest.find_first_of("/?#");
  if (rest.substr(0, end).empty()) return fields.Invalid(key, "has no host: '" + u + "'");
  if (!IsHeaderSafe(u) || u.find(' ') != std::string::npos) {
    return fields.Invalid(key, "has spaces or control characters");
  }
  while (!u.empty() && u.back() == '/') u.pop_back();
  return u;
}

HttpClient::HttpClient(HttpOptions options) : options_(std::move(options)) {}

HttpResponse HttpClient::Perform(const HttpRequest& request) {
  HttpResponse r;
  CURL* h = easy_.get();
  if (h == nullptr) {
    r.curl_code = CURLE_FAILED_INIT;
    r.error = "curl_easy_init failed";
    return r;
  }
  easy_.Reset();  // options back to defaults; the connection cache stays
  easy_.error_buffer()[0] = '\0';

  CurlHeaders headers;
  headers.Append("User-Agent: " + std::string(kUserAgent));
  if (!request.idempotency_key.empty()) {
    headers.Append("Idempotency-Key: " + request.idempotency_key);
  }
  for (const auto& [name, value] : request.headers) headers.Append(name + ": " + value);
  for (const auto& [name, value] : options_.headers) headers.Append(name + ": " + value);
  headers.Append("Expect:");  // no 100-continue round trip

  const int64_t timeout = request.timeout_ms > 0 ? request.timeout_ms : options_.timeout_ms;
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, easy_.error_buffer());
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_HTTP_VERSION, options_.http_version);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout));  // NOLINT(runtime/int)
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(  // NOLINT(runtime/int)
                       std::min(options_.connect_timeout_ms, timeout)));
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  // libcurl before 8.0.0 fails the second request on a reused h2c
  // prior-knowledge connection ("Error in the HTTP2 framing layer",
  // curl#10634, fixed in 8.0.0; Debian 12 has 7.88.1): one connection per
  // request there. h2 over TLS (negotiate) reuses its connection.
  static const bool h2c_reuse_broken = curl_version_info(CURLVERSION_NOW)->version_num < 0x080000;
  if (options_.http_version == CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE && h2c_reuse_broken) {
    curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
  }
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  if (!options_.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, options_.ca_file.c_str());
  if (options_.insecure_skip_verify) {
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (!request.basic_user.empty()) {
    curl_easy_setopt(h, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(h, CURLOPT_USERNAME, request.basic_user.c_str());
    curl_easy_setopt(h, CURLOPT_PASSWORD, request.basic_password.c_str());
  }
  if (request.method == "POST") {
    curl_easy_setopt(h, CURLOPT_POST, 1L);
  } else if (request.method != "GET") {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
  if (request.method != "GET" || !request.body.empty()) {
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, request.body.data());
  }
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &r);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &OnHeader);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &r);

  r.curl_code = curl_easy_perform(h);
  long status = 0;  // NOLINT(runtime/int)
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_getinfo(h, CURLINFO_HTTP_VERSION, &r.http_version);
  if (r.curl_code == CURLE_OK) {
    r.status = static_cast<int>(status);
  } else {
    r.error = easy_.ErrorText(r.curl_code);
  }
  // The buffers above die with this frame: no dangling pointers in the handle.
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, nullptr);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, nullptr);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, nullptr);
  return r;
}

int64_t ParseRetryAfterMs(std::string_view value, std::chrono::system_clock::time_point now) {
  const std::string v = Trim(value);
  if (v.empty()) return -1;
  if (std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    int64_t seconds = 0;
    auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), seconds);
    if (ec != std::errc() || seconds > INT64_MAX / 1000) return -1;
    return seconds * 1000;
  }
  // curl_getdate reads the three HTTP-date forms (IMF-fixdate, RFC 850, asctime).
  const time_t at = curl_getdate(v.c_str(), nullptr);
  if (at == -1) return -1;
  const auto when = std::chrono::system_clock::from_time_t(at);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(when - now).count();
  return std::max<int64_t>(ms, 0);
}

std::string BodyErrorMessage(std::string_view body) {
  const nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_object()) {
    auto str = [&](const nlohmann::json& o, const char* key) -> std::optional<std::string> {
      auto it = o.find(key);
      if (it != o.end() && it->is_string() && !it->get_ref<const std::string&>().empty()) {
        return it->get<std::string>();
      }
      return std::nullopt;
    };
    if (auto m = str(j, "message")) return OneLine(*m);
    if (auto e = j.find("error"); e != j.end() && e->is_object()) {
      if (auto m = str(*e, "message")) return OneLine(*m);
    }
    if (auto m = str(j, "error_description")) return OneLine(*m);
    if (auto m = str(j, "error")) return OneLine(*m);
    if (auto m = str(j, "detail")) return OneLine(*m);
  }
  return OneLine(body);
}

bool IsHeaderSafe(std::string_view value) {
  return std::all_of(value.begin(), value.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u == '\t' || (u >= 0x20 && u != 0x7F);
  });
}

std::string UrlEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3);
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) != 0 || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 0xF]);
    }
  }
  return out;
}

SendResult ClassifyHttp(const HttpResponse& response) {
  if (response.curl_code != CURLE_OK) {
    const std::string what = "curl: " + OneLine(response.error);
    switch (response.curl_code) {
      case CURLE_URL_MALFORMAT:  // found before anything is sent
        return SendResult::Failed(SendOutcome::kPermanent, 0, what);
      case CURLE_FAILED_INIT:
      case CURLE_OUT_OF_MEMORY:
        return SendResult::Failed(SendOutcome::kRetryable, 0, what);
      default:
        break;
    }
    if (CurlNotSent(response.curl_code)) {
      return SendResult::Failed(SendOutcome::kRetryable, 0, "not sent: " + what);
    }
    // A timeout, or the connection cut after the request went out: the
    // peer may have taken it.
    return SendResult::Failed(
        SendOutcome::kUnknown, 0,
        (CurlTimedOut(response.curl_code) ? "timed out: " : "cut off: ") + what);
  }
  const int s = response.status;
  if (s >= 200 && s < 300) return SendResult::Accepted(s);
  std::string detail = "HTTP " + std::to_string(s);
  const std::string message = BodyErrorMessage(response.body);
  if (!message.empty()) detail += ": " + message;
  if (s == 408 || s == 429 || (s >= 500 && s < 600)) {
    SendResult r = SendResult::Failed(SendOutcome::kRetryable, s, std::move(detail));
    if (auto ra = response.Header("retry-after")) r.retry_after_ms = ParseRetryAfterMs(*ra);
    return r;
  }
  if (s >= 300 && s < 400) {
    if (auto location = response.Header("location")) detail += " (redirect to " + *location + ")";
  }
  return SendResult::Failed(SendOutcome::kPermanent, s, std::move(detail));
}

std::optional<SecretFile::Stamp> SecretFile::StampOf(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  Stamp s;
  s.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  s.size = static_cast<int64_t>(st.st_size);
  s.inode = static_cast<uint64_t>(st.st_ino);
  return s;
}

Result<SecretFile> SecretFile::Load(ConfigFields& fields, std::string_view key) {
  auto path = fields.String(key);
  if (!path.ok()) return path.status();
  // Stamp first: a change between the two reads is then seen by Get().
  const auto stamp = StampOf(path.value());
  auto value = fields.Secret(key, /*required=*/true);
  if (!value.ok()) return value.status();
  SecretFile f;
  f.path_ = path.value();
  f.value_ = std::move(value).value();
  if (stamp) f.stamp_ = *stamp;
  return f;
}

SecretFile SecretFile::Fixed(std::string value) {
  SecretFile f;
  f.value_ = std::move(value);
  return f;
}

const std::string& SecretFile::Get() {
  if (path_.empty()) return value_;
  const auto stamp = StampOf(path_);
  if (!stamp || *stamp == stamp_) return value_;
  auto s = ReadTrimmedFile(path_);
  if (!s || s->empty()) return value_;  // mid-write or emptied: keep the last good value
  value_ = std::move(*s);
  stamp_ = *stamp;
  return value_;
}

}  // namespace cairn::connectors
