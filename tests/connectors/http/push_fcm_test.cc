// push_fcm: over h2c prior knowledge against a real HTTP/2 server
// (libnghttp2), and against HttpPeer (HTTP/1.1) for the classification.
#include "push_fcm/push_fcm.h"

#include <curl/curl.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "h2c_server.h"
#include "http_peer.h"
#include "http_test_util.h"
#include "test_support.h"

namespace cairn::connectors {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using testing::H2cServer;
using testing::H2Response;
using testing::HttpPeer;
using Response = HttpPeer::Response;

constexpr const char* kSendPath = "/v1/projects/demo-proj/messages:send";

std::string FcmError(int code, const std::string& status, const std::string& error_code,
                     const std::string& message, const std::string& field = "") {
  json details = json::array();
  if (!error_code.empty()) {
    details.push_back({{"@type", "type.googleapis.com/google.firebase.fcm.v1.FcmError"},
                       {"errorCode", error_code}});
  }
  if (!field.empty()) {
    details.push_back({{"@type", "type.googleapis.com/google.rpc.BadRequest"},
                       {"fieldViolations", {{{"field", field}, {"description", "bad"}}}}});
  }
  return json{
      {"error", {{"code", code}, {"message", message}, {"status", status}, {"details", details}}}}
      .dump();
}

class PushFcmTest : public ::testing::Test {
 protected:
  void SetUp() override { testing::WriteFile(token_path_, "ya29.access-token\n"); }

  std::unique_ptr<Connector> Make(const std::string& base_url, const std::string& extra = "") {
    auto c = testing::MakeConnector(
        *factory_,
        "base_url: " + base_url + "\nproject: demo-proj\ntoken_file: " + token_path_ + "\n" + extra,
        "push");
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? std::move(c).value() : nullptr;
  }
  static OutboundMessage Message(std::vector<std::string> tokens = {"tok-A"}) {
    OutboundMessage m;
    m.task_id = "task-7";
    m.customer_id = "c1";
    m.journey = "cart-abandonment";
    m.step = "push1";
    m.channel = "push";
    m.to = std::move(tokens);
    m.content = {{"title", "Still there?"}, {"body", "Your cart misses you"}};
    m.data = {{"deeplink", "app://cart"}};
    return m;
  }

  std::unique_ptr<ConnectorFactory> factory_ = NewPushFcmFactory();
  testing::TempDir dir_;
  std::string token_path_ = dir_.Sub("fcm-token");
};

TEST_F(PushFcmTest, RequestShapeOverH2cPriorKnowledge) {
  EXPECT_EQ(factory_->type(), "push_fcm");
  H2cServer server;
  server.Start();
  auto push = Make(server.url(), "http2: prior_knowledge\n");
  ASSERT_TRUE(push);
  const SendResult r = push->Send(Message());
  ASSERT_EQ(r.outcome, SendOutcome::kAccepted) << r.detail;
  EXPECT_EQ(r.code, 200);
  EXPECT_EQ(r.provider_id, "projects/p/messages/1");

  const auto reqs = server.Requests();
  ASSERT_EQ(reqs.size(), 1u);
  const auto& q = reqs[0];
  EXPECT_EQ(q.method, "POST");
  EXPECT_EQ(q.scheme, "http");
  EXPECT_EQ(q.path, kSendPath);
  EXPECT_EQ(q.Header("authorization"), "Bearer ya29.access-token");
  EXPECT_EQ(q.Header("content-type"), "application/json; charset=UTF-8");
  EXPECT_EQ(q.Header("idempotency-key"), "task-7");
  EXPECT_EQ(q.Header("user-agent"), "cairn/0.1");
  EXPECT_EQ(json::parse(q.body), json::parse(R"({"message":{"token":"tok-A",
                "notification":{"title":"Still there?","body":"Your cart misses you"},
                "data":{"deeplink":"app://cart","task_id":"task-7",
                        "journey":"cart-abandonment","step":"push1"}}})"));
}

TEST_F(PushFcmTest, Http1ClientIsRefusedByTheH2Server) {
  // The h2c server speaks nothing but HTTP/2: with http2 off the request
  // fails, so the test above really went over HTTP/2.
  H2cServer server;
  server.Start();
  auto push = Make(server.url(), "http2: off\ntimeout: 2s\n");
  ASSERT_TRUE(push);
  const SendResult r = push->Send(Message());
  EXPECT_NE(r.outcome, SendOutcome::kAccepted) << r.detail;
  EXPECT_EQ(server.Count(), 0u);
}

TEST_F(PushFcmTest, SeveralTokensOneConnectionKeyPerToken) {
  H2cServer server;
  server.Start();
  auto push = Make(server.url(), "http2: prior_knowledge\n");
  ASSERT_TRUE(push);
  const SendResult r = push->Send(Message({"tok-A", "tok-B", "tok-C"}));
  ASSERT_EQ(r.outcome, SendOutcome::kAccepted) << r.detail;
  EXPECT_EQ(r.provider_id, "projects/p/messages/1");
  EXPECT_EQ(r.detail, "");
  const auto reqs = server.Requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[0].Header("idempotency-key"), "task-7/0");
  EXPECT_EQ(reqs[1].Header("idempotency-key"), "task-7/1");
  EXPECT_EQ(reqs[2].Header("idempotency-key"), "task-7/2");
  EXPECT_EQ(json::parse(reqs[1].body)["message"]["token"], "tok-B");
  // libcurl < 8.0.0 cannot reuse an h2c prior-knowledge connection
  // (curl#10634): the client then opens one per request.
  if (curl_version_info(CURLVERSION_NOW)->version_num >= 0x080000) {
    EXPECT_EQ(server.Connections(), 1u);
    EXPECT_LT(reqs[0].stream_id, reqs[2].stream_id) << "streams of one HTTP/2 connection";
  } else {
    EXPECT_EQ(server.Connections(), 3u);
  }
}

TEST_F(PushFcmTest, UnregisteredTokenOverH2IsABounce) {
  H2cServer server;
  server.Start();
  server.Script(
      H2Response{404,
                 {{"content-type", "application/json"}},
                 FcmError(404, "NOT_FOUND", "UNREGISTERED", "Requested entity was not found.")});
  auto push = Make(server.url(), "http2: prior_knowledge\n");
  ASSERT_TRUE(push);
  const SendResult r = push->Send(Message());
  EXPECT_EQ(r.outcome, SendOutcome::kPermanent);
  EXPECT_EQ(r.code, 404);
  EXPECT_TRUE(r.recipient_rejected);
  EXPECT_EQ(r.detail, "HTTP 404: UNREGISTERED: Requested entity was not found.");
}

class PushFcmPeerTest : public PushFcmTest {
 protected:
  void SetUp() override {
    PushFcmTest::SetUp();
    peer_.Start();
    peer_.SetDefault(Response::Json(200, R"({"name":"projects/demo-proj/messages/0:1"})"));
  }
  HttpPeer peer_;
};

TEST_F(PushFcmPeerTest, NegotiateOnPlainHttpIsHttp11WithoutUpgrade) {
  auto push = Make(peer_.url());  // http2: negotiate (default)
  ASSERT_TRUE(push);
  ASSERT_EQ(push->Send(Message()).outcome, SendOutcome::kAccepted);
  const auto q = peer_.Requests().at(0);
  EXPECT_EQ(q.version, 11);
  EXPECT_FALSE(q.HasHeader("upgrade"));
  EXPECT_FALSE(q.HasHeader("http2-settings"));
  EXPECT_EQ(q.target, kSendPath);
}

TEST_F(PushFcmPeerTest, RetryableAnswersAndTheSameKeysOnRetry) {
  auto push = Make(peer_.url());
  ASSERT_TRUE(push);
  peer_.Script(Response::Json(429, FcmError(429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED", "quota"))
                   .WithHeader("Retry-After", "12"));
  SendResult r = push->Send(Message());
  EXPECT_EQ(r.outcome, SendOutcome::kRetryable);
  EXPECT_EQ(r.code, 429);
  EXPECT_EQ(r.retry_after_ms, 12'000);

  peer_.Script(Response::Status(503).WithHeader("Retry-After", testing::HttpDateIn(60)));
  r = push->Send(Message());
  EXPECT_EQ(r.outcome, SendOutcome::kRetryable);
  EXPECT_GE(r.retry_after_ms, 58'000);
  EXPECT_LE(r.retry_after_ms, 60'000);

  for (int s : {500, 408}) {
    peer_.Script(Response::Status(s));
    EXPECT_EQ(push->Send(Message()).outcome, SendOutcome::kRetryable) << s;
  }
  const auto reqs = peer_.Requests();
  ASSERT_EQ(reqs.size(), 4u);
  for (const auto& q : reqs) EXPECT_EQ(q.Header("idempotency-key"), "task-7");
}

TEST_F(PushFcmPeerTest, SeveralTokensCombine) {
  auto push = Make(peer_.url());
  ASSERT_TRUE(push);
  const auto two = Message({"tok-A", "tok-B"});
  // One retryable among accepted: the task goes again, keys per token.
  peer_.Script({Response::Json(200, R"({"name":"m/A"})"), Response::Status(503)});
  SendResult r = push->Send(two);
  EXPECT_EQ(r.outcome, SendOutcome::kRetryable);
  EXPECT_EQ(r.code, 503);
  EXPECT_NE(r.detail.find("token 2/2"), std::string::npos) << r.detail;
  peer_.SetIdempotent(true);
  r = push->Send(two);  // the retry: tok-A's key is answered again, tok-B delivered
  EXPECT_EQ(r.outcome, SendOutcome::kAccepted);
  EXPECT_EQ(r.provider_id, "m/A");
  EXPECT_EQ(peer_.Duplicates(), 1u);
  EXPECT_EQ(peer_.DistinctKeys(), 2u);
  auto reqs = peer_.Requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[0].Header("idempotency-key"), "task-7/0");
  EXPECT_EQ(reqs[1].Header("idempotency-key"), "task-7/1");
  EXPECT_EQ(reqs[2].Header("idempotency-key"), "task-7/1");
  peer_.SetIdempotent(false);
  peer_.Clear();

  // A timeout beats a retryable: unknown.
  auto slow = Make(peer_.url(), "timeout: 300ms\n");
  ASSERT_TRUE(slow);
  peer_.Script({Response::Status(500), Response::Status(200).WithDelay(milliseconds(3000))});
  r = slow->Send(two);
  EXPECT_EQ(r.outcome, SendOutcome::kUnknown);
  peer_.Clear();

  // One refused, one accepted: delivered to a device, the refusal named.
  peer_.Script({Response::Json(404, FcmError(404, "NOT_FOUND", "UNREGISTERED", "gone")),
                Response::Json(200, R"({"name":"m/B"})")});
  r = push->Send(two);
  EXPECT_EQ(r.outcome, SendOutcome::kAccepted);
  EXPECT_EQ(r.provider_id, "m/B");
  EXPECT_NE(r.detail.find("1 of 2"), std::string::npos) << r.detail;
  EXPECT_NE(r.detail.find("UNREGISTERED"), std::string::npos) << r.detail;

  // All refused as recipients: a bounce.
  peer_.Script({Response::Json(404, FcmError(404, "NOT_FOUND", "UNREGISTERED", "gone")),
                Response::Json(400, FcmError(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT",
                                             "The registration token is not a valid FCM "
                                             "registration token"))});
  r = push->Send(two);
  EXPECT_EQ(r.outcome, SendOutcome::kPermanent);
  EXPECT_TRUE(r.recipient_rejected);

  // All refused, one not for the recipient: permanent, not a bounce.
  peer_.Script(
      {Response::Json(404, FcmError(404, "NOT_FOUND", "UNREGISTERED", "gone")),
       Response::Json(403, FcmError(403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH", "mismatch"))});
  r = push->Send(two);
  EXPECT_EQ(r.outcome, SendOutcome::kPermanent);
  EXPECT_FALSE(r.recipient_rejected);
}

TEST_F(PushFcmPeerTest, PermanentAnswers) {
  auto push = Make(peer_.url());
  ASSERT_TRUE(push);
  // INVALID_ARGUMENT about the token (a field violation): a bounce.
  peer_.Script(
      Response::Json(400, FcmError(400, "INVALID_ARGUMENT", "", "Invalid value", "message.token")));
  SendResult r = push->Send(Message());
  EXPECT_EQ(r.outcome, SendOutcome::kPermanent);
  EXPECT_TRUE(r.recipient_rejected);
  // INVALID_ARGUMENT about the payload: permanent, the device is fine.
  peer_.Script(Response::Json(400, FcmError(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT",
                                            "Invalid JSON payload received.", "message.data")));
  r = push->Send(Message());
  EXPECT_EQ(r.outcome, SendOutcome::kPermanent);
  EXPECT_FALSE(r.recipient_rejected);
  EXPECT_EQ(r.detail, "HTTP 400: INVALID_ARGUMENT: Invalid JSON payload received.");
  // 401 with a plain body.
  peer_.Script(Response::Status(401, "Request had invalid authentication credentials."));
  r = push->Send(Message());
  EXPECT_EQ(r.outcome, SendOutcome::kPermanent);
  EXPECT_FALSE(r.recipient_rejected);
  EXPECT_EQ(r.detail, "HTTP 401: Request had invalid authentication credentials.");
}

TEST_F(PushFcmPeerTest, NoTokensNoTitleRefusedAndTimeout) {
  auto push = Make(peer_.url(), "timeout: 300ms\n");
  ASSERT_TRUE(push);
  SendResult r = push->Send(Message({}));
  EXPECT_EQ(r.outcome, SendOutcome::kPermanent);
  EXPECT_TRUE(r.recipient_rejected);
  EXPECT_EQ(r.detail, "no device token");
  EXPECT_EQ(peer_.Count(), 0u);

  // A data-only message: no notification object.
  OutboundMessage data_only = Message();
  data_only.content.clear();
  ASSERT_EQ(push->Send(data_only).outcome, SendOutcome::kAccepted);
  EXPECT_FALSE(json::parse(peer_.Requests().at(0).body)["message"].contains("notification"));

  peer_.Script(Response::Status(200).WithDelay(milliseconds(3000)));
  const auto start = std::chrono::steady_clock::now();
  r = push->Send(Message());
  EXPECT_EQ(r.outcome, SendOutcome::kUnknown);
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(2500));

  auto down = Make("http://" + testing::FreeLoopbackAddress());
  ASSERT_TRUE(down);
  r = down->Send(Message());
  EXPECT_EQ(r.outcome, SendOutcome::kRetryable);
  EXPECT_EQ(r.code, 0);
}

TEST_F(PushFcmPeerTest, RotatedAccessTokenIsUsed) {
  auto push = Make(peer_.url());
  ASSERT_TRUE(push);
  ASSERT_EQ(push->Send(Message()).outcome, SendOutcome::kAccepted);
  testing::WriteFile(token_path_ + ".new", "ya29.refreshed");
  ASSERT_EQ(std::rename((token_path_ + ".new").c_str(), token_path_.c_str()), 0);
  ASSERT_EQ(push->Send(Message()).outcome, SendOutcome::kAccepted);
  const auto reqs = peer_.Requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].Header("authorization"), "Bearer ya29.access-token");
  EXPECT_EQ(reqs[1].Header("authorization"), "Bearer ya29.refreshed");
}

TEST_F(PushFcmTest, ConfigErrorsNameTheField) {
  auto err = [&](const std::string& yaml) { return testing::ConfigError(*factory_, yaml, "push"); };
  const std::string token = "token_file: " + token_path_ + "\n";
  EXPECT_NE(err(token).find("connectors.push.project"), std::string::npos);
  EXPECT_NE(err("project: \"a/b\"\n" + token).find("connectors.push.project"), std::string::npos);
  EXPECT_NE(err("project: p\n").find("connectors.push.token_file"), std::string::npos);
  EXPECT_NE(
      err("project: p\ntoken_file: " + dir_.Sub("none") + "\n").find("connectors.push.token_file"),
      std::string::npos);
  EXPECT_NE(err("project: p\n" + token + "http2: yes\n").find("connectors.push.http2"),
            std::string::npos);
  EXPECT_NE(err("project: p\n" + token + "base_url: fcm.googleapis.com\n")
                .find("connectors.push.base_url"),
            std::string::npos);
  EXPECT_NE(
      err("project: p\n" + token + "headers: {Authorization: x}\n").find("connectors.push.headers"),
      std::string::npos);
  // The defaults: base_url https://fcm.googleapis.com, http2 negotiate.
  EXPECT_EQ(err("project: p\n" + token), "");
  EXPECT_EQ(err("project: p\n" + token + "http2: off\ntimeout: 3s\n"), "");
}

}  // namespace
}  // namespace cairn::connectors
