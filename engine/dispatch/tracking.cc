#include "dispatch/tracking.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <nlohmann/json.hpp>

namespace cairn::dispatch {
namespace {

constexpr size_t kMacBytes = 32;

std::array<unsigned char, kMacBytes> Mac(const std::string& key, std::string_view data) {
  std::array<unsigned char, kMacBytes> out{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(), &len);
  return out;
}

bool StartsWithNoCase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != prefix[i]) return false;
  }
  return true;
}

bool KnownKind(char k) { return k == 'o' || k == 'c' || k == 'u' || k == 's'; }

// Percent-encodes everything but unreserved characters (RFC 3986).
std::string PathEscape(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

}  // namespace

bool IsHttpUrl(std::string_view url) {
  size_t rest = 0;
  if (StartsWithNoCase(url, "https://")) {
    rest = 8;
  } else if (StartsWithNoCase(url, "http://")) {
    rest = 7;
  } else {
    return false;
  }
  if (rest >= url.size() || url[rest] == '/' || url[rest] == '?' || url[rest] == '#') return false;
  for (unsigned char c : url) {
    if (c <= 0x20 || c == 0x7F) return false;
  }
  return true;
}

Tracker::Tracker(std::string base_url, std::string key)
    : base_url_(std::move(base_url)), key_(std::move(key)) {
  while (!base_url_.empty() && base_url_.back() == '/') base_url_.pop_back();
}

Result<Tracker> Tracker::Create(std::string base_url, std::string key) {
  if (!IsHttpUrl(base_url)) {
    return InvalidArgument("tracking base_url '" + base_url +
                           "' is not an absolute http(s) URL such as https://t.shop.example");
  }
  if (base_url.find_first_of("?#") != std::string::npos) {
    return InvalidArgument("tracking base_url '" + base_url +
                           "' must not have a query or fragment");
  }
  if (key.size() < kMinTrackingKeyBytes) {
    return InvalidArgument("tracking key has " + std::to_string(key.size()) + " bytes; at least " +
                           std::to_string(kMinTrackingKeyBytes) +
                           " are needed (e.g. `openssl rand -base64 32`)");
  }
  return Tracker(std::move(base_url), std::move(key));
}

std::string Tracker::Sign(const TrackingClaims& claims) const {
  nlohmann::json j = nlohmann::json::object();
  j["k"] = std::string(1, static_cast<char>(claims.kind));
  j["t"] = claims.task_id;
  j["u"] = claims.customer_id;
  if (!claims.journey.empty()) j["j"] = claims.journey;
  if (!claims.step.empty()) j["s"] = claims.step;
  if (!claims.channel.empty()) j["c"] = claims.channel;
  if (!claims.url.empty()) j["l"] = claims.url;
  const std::string text = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  const auto mac = Mac(key_, text);
  return Base64UrlEncode(text) + "." +
         Base64UrlEncode(std::string_view(reinterpret_cast<const char*>(mac.data()), mac.size()));
}

Result<TrackingClaims> Tracker::Verify(std::string_view token) const {
  if (token.empty()) return InvalidArgument("tracking token: empty");
  if (token.size() > kMaxTrackingTokenBytes) return InvalidArgument("tracking token: too long");
  const size_t dot = token.find('.');
  if (dot == std::string_view::npos || token.find('.', dot + 1) != std::string_view::npos) {
    return InvalidArgument("tracking token: not claims.signature");
  }
  auto claims_text = Base64UrlDecode(token.substr(0, dot));
  if (!claims_text.ok())
    return InvalidArgument("tracking token claims: " + claims_text.status().message());
  auto sig = Base64UrlDecode(token.substr(dot + 1));
  if (!sig.ok()) return InvalidArgument("tracking token signature: " + sig.status().message());
  const auto mac = Mac(key_, *claims_text);
  if (sig->size() != mac.size() || CRYPTO_memcmp(sig->data(), mac.data(), mac.size()) != 0) {
    return FailedPrecondition("tracking token: bad signature");
  }
  // Signed by us: still parsed defensively (a leaked key must not crash us).
  const auto j = nlohmann::json::parse(*claims_text, nullptr, false);
  if (!j.is_object()) return InvalidArgument("tracking token: claims are not a JSON object");
  auto str = [&](const char* key) -> std::string {
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  const std::string kind = str("k");
  if (kind.size() != 1 || !KnownKind(kind[0]))
    return InvalidArgument("tracking token: unknown kind");
  TrackingClaims c;
  c.kind = static_cast<TrackingClaims::Kind>(kind[0]);
  c.task_id = str("t");
  c.customer_id = str("u");
  c.journey = str("j");
  c.step = str("s");
  c.channel = str("c");
  c.url = str("l");
  if (c.task_id.empty() || c.customer_id.empty()) {
    return InvalidArgument("tracking token: no task or customer");
  }
  if (c.kind == TrackingClaims::Kind::kClick ? !IsHttpUrl(c.url) : !c.url.empty()) {
    return InvalidArgument("tracking token: a click needs an http(s) target, nothing else has one");
  }
  return c;
}

std::string Tracker::OpenPixelUrl(TrackingClaims ref) const {
  ref.kind = TrackingClaims::Kind::kOpen;
  ref.url.clear();
  return base_url_ + "/t/o/" + Sign(ref);
}

std::string Tracker::ClickUrl(TrackingClaims ref, std::string_view target) const {
  ref.kind = TrackingClaims::Kind::kClick;
  ref.url = std::string(target);
  return base_url_ + "/t/c/" + Sign(ref);
}

std::string Tracker::UnsubscribeUrl(TrackingClaims ref) const {
  ref.kind = TrackingClaims::Kind::kUnsubscribe;
  ref.url.clear();
  return base_url_ + "/u/" + Sign(ref);
}

std::string Tracker::StatusCallbackUrl(TrackingClaims ref, std::string_view connector) const {
  ref.kind = TrackingClaims::Kind::kStatus;
  ref.url.clear();
  return base_url_ + "/hooks/sms/" + PathEscape(connector) + "?t=" + Sign(ref);
}

}  // namespace cairn::dispatch
