// Tracking links: signed tokens for the open pixel, click redirects,
// one-click unsubscribe and provider status callbacks.
//
// A token is base64url(claims) "." base64url(HMAC-SHA256(key, claims)); the
// key comes from a file (tracking.key_file). Verify() refuses a forged or
// tampered token, so an endpoint answers 4xx and emits no event. A click
// token carries its target URL inside the signed claims: the redirect goes
// only where the template said (no open redirect).
//
// Thread-safety: const methods may be called from any thread.
#pragma once

#include <string>
#include <string_view>

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

class Tracker {
 public:
  // `base_url`: how recipients reach Cairn's HTTP server ("https://t.shop.example");
  // `key`: the signing secret (at least 16 bytes).
  Tracker(std::string base_url, std::string key);

  std::string Sign(const TrackingClaims& claims) const;
  // InvalidArgument for a malformed token, PermissionDenied-like (FailedPrecondition)
  // for a bad signature; never throws.
  Result<TrackingClaims> Verify(std::string_view token) const;

  // `ref` supplies task/customer/journey/step/channel; kind and url are set here.
  std::string OpenPixelUrl(TrackingClaims ref) const;                       // <base>/t/o/<token>
  std::string ClickUrl(TrackingClaims ref, std::string_view target) const;  // <base>/t/c/<token>
  std::string UnsubscribeUrl(TrackingClaims ref) const;                     // <base>/u/<token>
  // <base>/hooks/sms/<connector>?t=<token>
  std::string StatusCallbackUrl(TrackingClaims ref, std::string_view connector) const;

  const std::string& base_url() const { return base_url_; }

 private:
  std::string base_url_;
  std::string key_;
};

}  // namespace cairn::dispatch
