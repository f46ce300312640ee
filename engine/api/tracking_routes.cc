#include "api/tracking_routes.h"

#include <spdlog/spdlog.h>

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "cairn/fnv1a.h"

namespace cairn::api {
namespace {

using dispatch::TrackingClaims;
using Kind = TrackingClaims::Kind;

struct Context {
  const dispatch::Tracker* tracker;
  dispatch::OutcomeSink* sink;
  const Clock* clock;
  std::set<std::string> sms_connectors;
};

dispatch::OutcomeRef RefOf(const TrackingClaims& c) {
  return {c.task_id, c.customer_id, c.journey, c.step, c.channel};
}

// The token and whether it is good for `kind`; `status` is set on failure:
// 400 malformed or of another kind, 403 bad signature.
std::optional<TrackingClaims> Claims(const Context& ctx, std::string_view token, Kind kind,
                                     int* status) {
  auto claims = ctx.tracker->Verify(token);
  if (!claims.ok()) {
    *status = claims.status().code() == StatusCode::kFailedPrecondition ? 403 : 400;
    return std::nullopt;
  }
  if (claims->kind != kind) {
    *status = 400;
    return std::nullopt;
  }
  return std::move(*claims);
}

std::string Hex64(uint64_t v) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s(16, '0');
  for (int i = 15; i >= 0; --i, v >>= 4) s[static_cast<size_t>(i)] = kHex[v & 15];
  return s;
}

std::string HtmlText(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

HttpResponse Page(int status, std::string_view title, const std::string& body_html) {
  HttpResponse r;
  r.status = status;
  r.content_type = "text/html; charset=utf-8";
  r.body =
      "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      "<meta name=\"robots\" content=\"noindex\">\n<title>" +
      HtmlText(title) + "</title>\n</head>\n<body>\n<main>\n<h1>" + HtmlText(title) + "</h1>\n" +
      body_html + "</main>\n</body>\n</html>\n";
  r.headers = {{"Referrer-Policy", "no-referrer"}, {"X-Content-Type-Options", "nosniff"}};
  return r;
}

std::string ChannelText(const std::string& channel) {
  return channel.empty() ? "these messages" : HtmlText(channel) + " messages";
}

HttpResponse BadLinkPage(int status) {
  return Page(status, "This link does not work",
              "<p>The link is incomplete or was changed. Please use the link from the most "
              "recent message, or contact us.</p>\n");
}

HttpResponse OnOpen(const Context& ctx, const HttpRequest& req) {
  int status = 0;
  auto claims = Claims(ctx, req.segments.back(), Kind::kOpen, &status);
  if (!claims) return HttpResponse::Error(404, "not_found", "no such pixel");
  const TimestampMs now = ctx.clock->NowMs();
  const std::string event =
      dispatch::OutcomeEventJson(dispatch::kMessageOpened, RefOf(*claims), nlohmann::json::object(),
                                 now, "opened:" + std::to_string(now));
  Status s = ctx.sink->Emit(claims->customer_id, event, /*durable=*/false);
  if (!s.ok()) spdlog::warn("open of {} not recorded: {}", claims->task_id, s.ToString());
  HttpResponse r;
  r.content_type = "image/gif";
  r.body = TransparentGif();  // the server adds Cache-Control: no-store
  return r;
}

HttpResponse OnClick(const Context& ctx, const HttpRequest& req) {
  int status = 0;
  auto claims = Claims(ctx, req.segments.back(), Kind::kClick, &status);
  if (!claims) {
    return HttpResponse::Error(status, status == 403 ? "forbidden" : "bad_request",
                               "not a valid link");
  }
  const TimestampMs now = ctx.clock->NowMs();
  const std::string event = dispatch::OutcomeEventJson(
      dispatch::kMessageClicked, RefOf(*claims), {{"url", claims->url}}, now,
      "clicked:" + Hex64(Fnv1a64(claims->url)) + ":" + std::to_string(now));
  Status s = ctx.sink->Emit(claims->customer_id, event, /*durable=*/false);
  if (!s.ok()) spdlog::warn("click of {} not recorded: {}", claims->task_id, s.ToString());
  HttpResponse r;
  r.status = 302;
  r.content_type = "text/plain; charset=utf-8";
  r.body = "Redirecting to " + claims->url + "\n";
  r.headers = {{"Location", claims->url}, {"Referrer-Policy", "no-referrer"}};
  return r;
}

HttpResponse OnUnsubscribePage(const Context& ctx, const HttpRequest& req) {
  int status = 0;
  auto claims = Claims(ctx, req.segments.back(), Kind::kUnsubscribe, &status);
  if (!claims) return BadLinkPage(status);
  // GET changes nothing: mail scanners and link previews fetch every link.
  return Page(200, "Unsubscribe",
              "<p>Do you want to stop receiving " + ChannelText(claims->channel) +
                  " from us?</p>\n<form method=\"post\">\n"
                  "<button type=\"submit\">Unsubscribe</button>\n</form>\n");
}

HttpResponse OnUnsubscribe(const Context& ctx, const HttpRequest& req) {
  int status = 0;
  auto claims = Claims(ctx, req.segments.back(), Kind::kUnsubscribe, &status);
  if (!claims) return BadLinkPage(status);
  bool one_click = false;
  for (const auto& [k, v] : ParseFormBody(req.body)) {
    one_click = one_click || (k == "List-Unsubscribe" && v == "One-Click");
  }
  const TimestampMs now = ctx.clock->NowMs();
  const std::string event = dispatch::OutcomeEventJson(
      dispatch::kUnsubscribed, RefOf(*claims), {{"method", one_click ? "one-click" : "page"}}, now,
      "unsubscribed");
  Status s = ctx.sink->Emit(claims->customer_id, event, /*durable=*/true);
  if (!s.ok()) {
    // The task id, not the customer id: no PII in logs at info and above.
    spdlog::error("unsubscribe of task {} ({}) not recorded: {}", claims->task_id, claims->channel,
                  s.ToString());
    HttpResponse r = Page(503, "Please try again",
                          "<p>We could not record your request just now. Please try again in a "
                          "minute.</p>\n");
    r.headers.emplace_back("Retry-After", "30");
    return r;
  }
  return Page(200, "You are unsubscribed",
              "<p>You will no longer receive " + ChannelText(claims->channel) + " from us.</p>\n");
}

std::string SmsReason(const std::string& code, const std::string& status) {
  static const std::map<std::string, std::string> kReasons = {
      {"30001", "queue overflow"},
      {"30002", "account suspended"},
      {"30003", "unreachable destination handset"},
      {"30004", "message blocked"},
      {"30005", "unknown destination handset"},
      {"30006", "landline or unreachable carrier"},
      {"30007", "filtered by the carrier"},
      {"30008", "unknown error"},
      {"21211", "invalid 'To' phone number"},
      {"21610", "the recipient replied STOP"},
  };
  auto it = kReasons.find(code);
  if (it != kReasons.end()) return it->second;
  if (!code.empty()) return "provider error " + code;
  return status;
}

HttpResponse OnSmsStatus(const Context& ctx, const HttpRequest& req) {
  const std::string& connector = req.segments.back();
  if (!ctx.sms_connectors.count(connector)) {
    return HttpResponse::Error(404, "not_found", "no sms connector '" + connector + "'");
  }
  int status = 0;
  auto claims = Claims(ctx, req.Query("t"), Kind::kStatus, &status);
  if (!claims) return HttpResponse::Error(403, "forbidden", "missing or invalid token");
  std::string sid, state, code;
  for (const auto& [k, v] : ParseFormBody(req.body)) {
    if (k == "MessageSid" && sid.empty()) sid = v;
    if (k == "MessageStatus" && state.empty()) state = v;
    if (k == "ErrorCode" && code.empty()) code = v;
  }
  if (state.empty()) return HttpResponse::Error(400, "bad_request", "no MessageStatus");
  std::string_view name;
  std::string suffix;
  nlohmann::json extra = {{"provider_id", sid}, {"status", state}, {"connector", connector}};
  if (state == "delivered") {
    name = dispatch::kMessageDelivered;
    suffix = "delivered";
  } else if (state == "failed" || state == "undelivered") {
    const bool bounce = IsSmsBounceCode(code);
    name = bounce ? dispatch::kMessageBounced : dispatch::kMessageFailed;
    suffix = bounce ? "bounced" : "failed";
    extra["reason"] = SmsReason(code, state);
    if (!code.empty()) extra["code"] = code;
  } else {
    // queued, sending, sent, accepted, scheduled, read...: nothing to report.
    return HttpResponse::Json(200, "{}");
  }
  const std::string event =
      dispatch::OutcomeEventJson(name, RefOf(*claims), extra, ctx.clock->NowMs(), suffix);
  Status s = ctx.sink->Emit(claims->customer_id, event, /*durable=*/false);
  if (!s.ok()) {
    // The provider retries a callback that did not get a 2xx.
    HttpResponse r = HttpResponse::Error(503, "unavailable", s.message());
    r.headers.emplace_back("Retry-After", "30");
    return r;
  }
  return HttpResponse::Json(200, "{}");
}

}  // namespace

const std::string& TransparentGif() {
  static const std::string kGif = [] {
    static constexpr unsigned char kBytes[] = {
        0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00,
        0x00, 0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00,
        0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b};
    return std::string(reinterpret_cast<const char*>(kBytes), sizeof(kBytes));
  }();
  return kGif;
}

bool IsSmsBounceCode(std::string_view error_code) {
  return error_code == "30003" || error_code == "30005" || error_code == "30006" ||
         error_code == "21211";
}

std::vector<std::pair<std::string, std::string>> ParseFormBody(std::string_view body) {
  auto decode = [](std::string_view s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
      auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
      };
      if (s[i] == '+') {
        out.push_back(' ');
      } else if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
        out.push_back(static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2])));
        i += 2;
      } else {
        out.push_back(s[i]);
      }
    }
    return out;
  };
  std::vector<std::pair<std::string, std::string>> out;
  size_t at = 0;
  while (at <= body.size()) {
    size_t amp = body.find('&', at);
    if (amp == std::string_view::npos) amp = body.size();
    std::string_view pair = body.substr(at, amp - at);
    // Mail clients may end the body with CRLF.
    while (!pair.empty() && (pair.back() == '\r' || pair.back() == '\n')) pair.remove_suffix(1);
    if (!pair.empty()) {
      const size_t eq = pair.find('=');
      out.emplace_back(decode(pair.substr(0, eq)),
                       eq == std::string_view::npos ? "" : decode(pair.substr(eq + 1)));
    }
    at = amp + 1;
  }
  return out;
}

std::vector<Route> TrackingRoutes(const dispatch::Tracker* tracker, dispatch::OutcomeSink* sink,
                                  const Clock* clock, std::set<std::string> sms_connectors) {
  auto ctx =
      std::make_shared<const Context>(Context{tracker, sink, clock, std::move(sms_connectors)});
  auto bind = [ctx](HttpResponse (*fn)(const Context&, const HttpRequest&)) {
    return [ctx, fn](const HttpRequest& req) { return fn(*ctx, req); };
  };
  // Served on the public listener, without a token: the signed token in the
  // path (or the provider's callback query) is the authorization.
  constexpr auto kPublic = Exposure::kPublic;
  return {
      {"GET", {"t", "o", "*"}, bind(&OnOpen), kPublic},
      {"GET", {"t", "c", "*"}, bind(&OnClick), kPublic},
      {"GET", {"u", "*"}, bind(&OnUnsubscribePage), kPublic},
      {"POST", {"u", "*"}, bind(&OnUnsubscribe), kPublic},
      {"POST", {"hooks", "sms", "*"}, bind(&OnSmsStatus), kPublic},
  };
}

}  // namespace cairn::api
