// The tracking endpoints (engine/api/tracking_routes.h) on a real HttpServer
// on loopback, with a recording OutcomeSink and a small Beast client.

// GCC 12 reports -Wnull-dereference inside Asio's scheduler once inlined
// (a false positive at the Boost line); silenced before any header.
#pragma GCC diagnostic ignored "-Wnull-dereference"

#include "api/tracking_routes.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <mutex>
#include <nlohmann/json.hpp>

#include "api/http_server.h"
#include "test_support.h"

namespace cairn::api {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kBase[] = "https://t.shop.example";
constexpr char kKey[] = "routes-test-key-0123456789";
constexpr TimestampMs kNow = 1793606400000;  // 2026-11-02T08:00:00Z

struct Emitted {
  std::string customer;
  nlohmann::json event;
  bool durable;
};

class RecordingSink final : public dispatch::OutcomeSink {
 public:
  Status Emit(const std::string& customer_id, const std::string& event_json,
              bool durable) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (fail_) return Unavailable("broker down");
    events_.push_back({customer_id, nlohmann::json::parse(event_json), durable});
    return Status::Ok();
  }
  std::vector<Emitted> events() {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }
  void set_fail(bool fail) {
    std::lock_guard<std::mutex> lock(mu_);
    fail_ = fail;
  }

 private:
  std::mutex mu_;
  std::vector<Emitted> events_;
  bool fail_ = false;
};

using Reply = cairn::testing::HttpCallResult;

// One request on a fresh connection, 5 s deadline.
Reply Send(const std::string& address, const std::string& method, const std::string& target,
           const std::string& body = "", const std::string& content_type = "") {
  std::vector<std::pair<std::string, std::string>> headers;
  if (!content_type.empty()) headers.emplace_back("Content-Type", content_type);
  return cairn::testing::HttpCall(method, address, target, body, headers);
}

class TrackingRoutesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server =
        HttpServer::Start("127.0.0.1:0", TrackingRoutes(&tracker_, &sink_, &clock_, {"twilio"}));
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(*server);
  }

  static dispatch::TrackingClaims Ref(const std::string& channel = "email") {
    dispatch::TrackingClaims c;
    c.task_id = "task-7";
    c.customer_id = "user-42";
    c.journey = "cart-abandonment";
    c.step = "reminder_email";
    c.channel = channel;
    return c;
  }
  // The path of a tracking URL on our server.
  static std::string PathOf(const std::string& url) {
    EXPECT_EQ(url.rfind(kBase, 0), 0u) << url;
    return url.substr(std::string(kBase).size());
  }
  Reply Get(const std::string& target) { return Send(server_->address(), "GET", target); }
  Reply Post(const std::string& target, const std::string& body = "",
             const std::string& type = "application/x-www-form-urlencoded") {
    return Send(server_->address(), "POST", target, body, type);
  }

  const dispatch::Tracker tracker_{kBase, kKey};
  const dispatch::Tracker other_key_{kBase, "a-different-key-0123456789"};
  RecordingSink sink_;
  ManualClock clock_{kNow};
  std::unique_ptr<HttpServer> server_;
};

void ExpectRef(const nlohmann::json& e, const std::string& channel = "email") {
  EXPECT_EQ(e.at("type"), "track");
  EXPECT_EQ(e.at("userId"), "user-42");
  EXPECT_EQ(e.at("properties").at("task_id"), "task-7");
  EXPECT_EQ(e.at("properties").at("journey"), "cart-abandonment");
  EXPECT_EQ(e.at("properties").at("step"), "reminder_email");
  EXPECT_EQ(e.at("properties").at("channel"), channel);
}

TEST_F(TrackingRoutesTest, OpenPixelServesAGifAndEmitsOneEventPerOpen) {
  const std::string path = PathOf(tracker_.OpenPixelUrl(Ref()));
  Reply r = Get(path);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("content-type"), "image/gif");
  EXPECT_EQ(r.Header("cache-control"), "no-store");
  ASSERT_EQ(r.body.size(), 43u);
  EXPECT_EQ(r.body.substr(0, 6), "GIF89a");
  EXPECT_EQ(r.body, TransparentGif());
  clock_.Advance(60'000);
  EXPECT_EQ(Get(path).status, 200);

  const auto events = sink_.events();
  ASSERT_EQ(events.size(), 2u);
  for (const auto& e : events) {
    EXPECT_EQ(e.customer, "user-42");
    EXPECT_FALSE(e.durable);
    EXPECT_EQ(e.event.at("event"), "Message Opened");
    ExpectRef(e.event);
  }
  // Every open counts: the messageIds differ by time.
  EXPECT_EQ(events[0].event.at("messageId"), "task-7:opened:1793606400000");
  EXPECT_EQ(events[1].event.at("messageId"), "task-7:opened:1793606460000");
  EXPECT_EQ(events[0].event.at("timestamp"), "2026-11-02T08:00:00.000Z");
}

TEST_F(TrackingRoutesTest, BadPixelTokensEmitNothing) {
  const std::string token = PathOf(tracker_.OpenPixelUrl(Ref())).substr(5);
  EXPECT_EQ(Get("/t/o/" + token.substr(0, token.size() - 2) + "AA").status, 404);
  EXPECT_EQ(Get("/t/o/nonsense").status, 404);
  EXPECT_EQ(Get(PathOf(other_key_.OpenPixelUrl(Ref()))).status, 404);
  // A click token is not an open.
  EXPECT_EQ(
      Get("/t/o/" + PathOf(tracker_.ClickUrl(Ref(), "https://shop.example/")).substr(5)).status,
      404);
  EXPECT_TRUE(sink_.events().empty());
}

TEST_F(TrackingRoutesTest, ClickRedirectsToTheSignedTarget) {
  const std::string target = "https://shop.example/cart/c-1?utm_source=cairn&x=%20y";
  Reply r = Get(PathOf(tracker_.ClickUrl(Ref(), target)));
  EXPECT_EQ(r.status, 302);
  EXPECT_EQ(r.Header("location"), target);
  const auto events = sink_.events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].event.at("event"), "Message Clicked");
  EXPECT_EQ(events[0].event.at("properties").at("url"), target);
  EXPECT_FALSE(events[0].durable);
  ExpectRef(events[0].event);
  EXPECT_THAT(events[0].event.at("messageId").get<std::string>(),
              ::testing::MatchesRegex("task-7:clicked:[0-9a-f]{16}:1793606400000"));
}

TEST_F(TrackingRoutesTest, ForgedOrTamperedClicksDoNotRedirect) {
  const std::string token = PathOf(tracker_.ClickUrl(Ref(), "https://shop.example/x"))
                                .substr(std::string("/t/c/").size());
  const size_t dot = token.find('.');
  // Same signature, another target in the claims.
  auto claims = nlohmann::json::parse(*dispatch::Base64UrlDecode(token.substr(0, dot)));
  claims["l"] = "https://evil.example/login";
  const std::string tampered = dispatch::Base64UrlEncode(claims.dump()) + token.substr(dot);
  std::vector<std::pair<std::string, int>> cases = {
      {"/t/c/" + tampered, 403},
      {PathOf(other_key_.ClickUrl(Ref(), "https://evil.example/login")), 403},
      {"/t/c/" + token.substr(0, dot), 400},
      {"/t/c/%00%0d%0a", 400},
      {"/t/c/" + std::string(5000, 'A') + ".AAAA", 400},
      // An unsubscribe token is not a click.
      {"/t/c/" + PathOf(tracker_.UnsubscribeUrl(Ref())).substr(3), 400},
  };
  for (const auto& [path, status] : cases) {
    Reply r = Get(path);
    EXPECT_EQ(r.status, status) << path.substr(0, 80);
    EXPECT_EQ(r.Header("location"), "") << path.substr(0, 80);
  }
  EXPECT_TRUE(sink_.events().empty());
}

TEST_F(TrackingRoutesTest, NoOpenRedirectEvenWithOurOwnKey) {
  // Whatever reaches ClickUrl, the endpoint only redirects to http(s).
  for (const char* target : {"javascript:alert(document.cookie)", "//evil.example/",
                             "https://ok.example/\r\nSet-Cookie: a=b"}) {
    Reply r = Get(PathOf(tracker_.ClickUrl(Ref(), target)));
    EXPECT_EQ(r.status, 400) << target;
    EXPECT_EQ(r.Header("location"), "") << target;
    EXPECT_EQ(r.Header("set-cookie"), "") << target;
  }
  // A query parameter cannot choose the target.
  Reply r = Get(PathOf(tracker_.ClickUrl(Ref(), "https://shop.example/a")) +
                "?url=https://evil.example/");
  EXPECT_EQ(r.status, 302);
  EXPECT_EQ(r.Header("location"), "https://shop.example/a");
}

TEST_F(TrackingRoutesTest, UnsubscribeGetShowsAFormAndChangesNothing) {
  const std::string path = PathOf(tracker_.UnsubscribeUrl(Ref()));
  Reply r = Get(path);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("content-type"), "text/html; charset=utf-8");
  EXPECT_THAT(r.body, HasSubstr("<form method=\"post\">"));
  EXPECT_THAT(r.body, HasSubstr("<button type=\"submit\">Unsubscribe</button>"));
  EXPECT_THAT(r.body, HasSubstr("<html lang=\"en\">"));
  EXPECT_THAT(r.body, HasSubstr("email messages"));
  EXPECT_TRUE(sink_.events().empty());
  // A bad link gets a page saying so, and nothing happens.
  r = Get(PathOf(other_key_.UnsubscribeUrl(Ref())));
  EXPECT_EQ(r.status, 403);
  EXPECT_THAT(r.body, HasSubstr("This link does not work"));
  EXPECT_EQ(Post(PathOf(other_key_.UnsubscribeUrl(Ref())), "List-Unsubscribe=One-Click").status,
            403);
  EXPECT_EQ(Post("/u/" + PathOf(tracker_.OpenPixelUrl(Ref())).substr(5)).status, 400);
  EXPECT_TRUE(sink_.events().empty());
}

TEST_F(TrackingRoutesTest, OneClickPostUnsubscribesDurably) {
  const std::string path = PathOf(tracker_.UnsubscribeUrl(Ref()));
  // RFC 8058: what a mail client posts.
  Reply r = Post(path, "List-Unsubscribe=One-Click");
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.body, HasSubstr("You are unsubscribed"));
  // The page's form posts without a body.
  r = Send(server_->address(), "POST", path);
  EXPECT_EQ(r.status, 200);
  const auto events = sink_.events();
  ASSERT_EQ(events.size(), 2u);
  for (const auto& e : events) {
    EXPECT_TRUE(e.durable);
    EXPECT_EQ(e.customer, "user-42");
    EXPECT_EQ(e.event.at("event"), "Unsubscribed");
    // Deterministic: a repeat is dropped by the engine's dedup window.
    EXPECT_EQ(e.event.at("messageId"), "task-7:unsubscribed");
    ExpectRef(e.event);
  }
  EXPECT_EQ(events[0].event.at("properties").at("method"), "one-click");
  EXPECT_EQ(events[1].event.at("properties").at("method"), "page");
}

TEST_F(TrackingRoutesTest, UnsubscribeAnswers503UntilTheSinkConfirms) {
  const std::string path = PathOf(tracker_.UnsubscribeUrl(Ref("sms")));
  sink_.set_fail(true);
  Reply r = Post(path, "List-Unsubscribe=One-Click");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.Header("retry-after"), "30");
  EXPECT_THAT(r.body, Not(HasSubstr("You are unsubscribed")));
  sink_.set_fail(false);
  r = Post(path, "List-Unsubscribe=One-Click");
  EXPECT_EQ(r.status, 200);
  const auto events = sink_.events();
  ASSERT_EQ(events.size(), 1u);
  ExpectRef(events[0].event, "sms");
}

TEST_F(TrackingRoutesTest, SmsStatusCallbacks) {
  const std::string hook = PathOf(tracker_.StatusCallbackUrl(Ref("sms"), "twilio"));
  ASSERT_EQ(hook.rfind("/hooks/sms/twilio?t=", 0), 0u) << hook;
  auto form = [](const std::string& status, const std::string& code = "") {
    std::string body =
        "SmsSid=SM1&MessageSid=SM123&AccountSid=AC1&From=%2B15550001111"
        "&To=%2B4915100000001&MessageStatus=" +
        status;
    if (!code.empty()) body += "&ErrorCode=" + code;
    return body;
  };
  for (const char* quiet : {"queued", "sending", "sent", "accepted"}) {
    EXPECT_EQ(Post(hook, form(quiet)).status, 200) << quiet;
  }
  EXPECT_TRUE(sink_.events().empty());

  EXPECT_EQ(Post(hook, form("delivered")).status, 200);
  EXPECT_EQ(Post(hook, form("undelivered", "30007")).status, 200);
  EXPECT_EQ(Post(hook, form("failed", "30003")).status, 200);
  EXPECT_EQ(Post(hook, form("undelivered", "21211")).status, 200);
  EXPECT_EQ(Post(hook, form("failed")).status, 200);
  const auto events = sink_.events();
  ASSERT_EQ(events.size(), 5u);
  for (const auto& e : events) {
    ExpectRef(e.event, "sms");
    EXPECT_EQ(e.event.at("properties").at("provider_id"), "SM123");
  }
  EXPECT_EQ(events[0].event.at("event"), "Message Delivered");
  EXPECT_EQ(events[0].event.at("messageId"), "task-7:delivered");
  EXPECT_EQ(events[1].event.at("event"), "Message Failed");
  EXPECT_EQ(events[1].event.at("messageId"), "task-7:failed");
  EXPECT_EQ(events[1].event.at("properties").at("reason"), "filtered by the carrier");
  EXPECT_EQ(events[1].event.at("properties").at("code"), "30007");
  EXPECT_EQ(events[2].event.at("event"), "Message Bounced");
  EXPECT_EQ(events[2].event.at("messageId"), "task-7:bounced");
  EXPECT_EQ(events[2].event.at("properties").at("reason"), "unreachable destination handset");
  EXPECT_EQ(events[3].event.at("event"), "Message Bounced");
  EXPECT_EQ(events[3].event.at("properties").at("reason"), "invalid 'To' phone number");
  EXPECT_EQ(events[4].event.at("event"), "Message Failed");
  EXPECT_EQ(events[4].event.at("properties").at("reason"), "failed");
}

TEST_F(TrackingRoutesTest, SmsHookRefusesBadTokensAndUnknownConnectors) {
  const std::string token = PathOf(tracker_.StatusCallbackUrl(Ref("sms"), "twilio")).substr(20);
  const std::string body = "MessageSid=SM1&MessageStatus=delivered";
  EXPECT_EQ(Post("/hooks/sms/twilio", body).status, 403);
  EXPECT_EQ(Post("/hooks/sms/twilio?t=garbage", body).status, 403);
  EXPECT_EQ(Post("/hooks/sms/twilio?t=" + token + "x", body).status, 403);
  EXPECT_EQ(Post(PathOf(other_key_.StatusCallbackUrl(Ref("sms"), "twilio")), body).status, 403);
  // An open token is not a status token.
  EXPECT_EQ(
      Post("/hooks/sms/twilio?t=" + PathOf(tracker_.OpenPixelUrl(Ref())).substr(5), body).status,
      403);
  EXPECT_EQ(Post("/hooks/sms/vonage?t=" + token, body).status, 404);
  EXPECT_EQ(Post("/hooks/sms/twilio?t=" + token, "MessageSid=SM1").status, 400);
  EXPECT_TRUE(sink_.events().empty());
  // The good token still works.
  EXPECT_EQ(Post("/hooks/sms/twilio?t=" + token, body).status, 200);
  EXPECT_EQ(sink_.events().size(), 1u);
}

TEST(FormBodyTest, DecodesUrlEncodedPairs) {
  const auto pairs = ParseFormBody("a=1&b=x+y%21&c&=z&List-Unsubscribe=One-Click\r\n");
  ASSERT_EQ(pairs.size(), 5u);
  EXPECT_EQ(pairs[0], std::make_pair(std::string("a"), std::string("1")));
  EXPECT_EQ(pairs[1], std::make_pair(std::string("b"), std::string("x y!")));
  EXPECT_EQ(pairs[2], std::make_pair(std::string("c"), std::string("")));
  EXPECT_EQ(pairs[3], std::make_pair(std::string(""), std::string("z")));
  EXPECT_EQ(pairs[4], std::make_pair(std::string("List-Unsubscribe"), std::string("One-Click")));
  EXPECT_TRUE(ParseFormBody("").empty());
  EXPECT_TRUE(IsSmsBounceCode("30005"));
  EXPECT_FALSE(IsSmsBounceCode("30007"));
}

}  // namespace
}  // namespace cairn::api
