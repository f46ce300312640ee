// Tracking links: signed tokens for the open pixel, click redirects,
// one-click unsubscribe and provider status callbacks.
//
// A token is base64url(claims) "." base64url(HMAC-SHA256(key, claims)); the
// key comes from a file (tracking.key_file). Verify() refuses a forged or
// tampered token, so an endpoint answers 4xx and emits no event. A click
// token carries its target URL inside the signed claims: the redirect goes
// only where the template said (no open redirect).
//
// The claims are compact JSON with one-letter keys (k kind, t task_id,
// u customer_id, j journey, s step, c channel, l url), dumped with sorted
// keys; base64url has no padding, and only the canonical encoding is
// accepted. docs/templates.md describes the format for receivers.
//
// Thread-safety: const methods may be called from any thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "cairn/base64.h"
#include "cairn/status.h"

namespace cairn::dispatch {

struct TrackingClaims {
  enum class Kind : char { kOpen = 'o', kClick = 'c', kUnsubscribe = 'u', kStatus = 's' };
  Kind kind = Kind::kOpen;
  std::string task_id;
  std::string customer_id;
  std::string journey;
  std::string step;
  std::string channel;
  std::string url;  // kClick: the target
};

// Tokens longer than this are refused unread.
inline constexpr size_t kMaxTrackingTokenBytes = 4096;
// The shortest signing key Tracker::Create accepts.
inline constexpr size_t kMinTrackingKeyBytes = 16;

class Tracker {
 public:
  // `base_url`: how recipients reach Cairn's HTTP server ("https://t.shop.example");
  // `key`: the signing secret (at least 16 bytes). Trailing '/' of base_url
  // are dropped. Prefer Create(), which checks both.
  Tracker(std::string base_url, std::string key);

  // InvalidArgument when base_url is not an absolute http(s) URL or the key
  // is shorter than kMinTrackingKeyBytes.
  static Result<Tracker> Create(std::string base_url, std::string key);

  std::string Sign(const TrackingClaims& claims) const;
  // InvalidArgument for a malformed token, PermissionDenied-like (FailedPrecondition)
  // for a bad signature; never throws. A token longer than
  // kMaxTrackingTokenBytes, without task_id or customer_id, with an unknown
  // kind, or a click token whose url is not http(s) is malformed.
  Result<TrackingClaims> Verify(std::string_view token) const;

  // `ref` supplies task/customer/journey/step/channel; kind and url are set here.
  std::string OpenPixelUrl(TrackingClaims ref) const;  // <base>/t/o/<token>
  // <base>/t/c/<token>. `target` should pass IsHttpUrl(); the template
  // renderer checks it (Verify refuses a click token whose url does not).
  std::string ClickUrl(TrackingClaims ref, std::string_view target) const;
  std::string UnsubscribeUrl(TrackingClaims ref) const;  // <base>/u/<token>
  // <base>/hooks/sms/<connector>?t=<token>
  std::string StatusCallbackUrl(TrackingClaims ref, std::string_view connector) const;

  const std::string& base_url() const { return base_url_; }

 private:
  std::string base_url_;
  std::string key_;
};

// An absolute http:// or https:// URL with a host, no whitespace or control
// characters (so it is safe in a Location header).
bool IsHttpUrl(std::string_view url);

// base64url (cairn/base64.h), kept visible here for token code and tests.
using cairn::Base64UrlDecode;
using cairn::Base64UrlEncode;

}  // namespace cairn::dispatch
