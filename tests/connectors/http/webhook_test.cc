// webhook against HttpPeer: the body, the signature checked here with
// OpenSSL as a receiver would, retries with one key, the classification
// table and config errors.
#include "webhook/webhook.h"

#include <gtest/gtest.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <nlohmann/json.hpp>

#include "http_peer.h"
#include "http_test_util.h"
#include "test_support.h"

namespace cairn::connectors {
namespace {

using std::chrono::milliseconds;
using testing::HttpPeer;
using Response = HttpPeer::Response;

constexpr const char* kSecret = "whsec_test_0123456789";

// What a receiver does: parse t= and v1=, recompute HMAC-SHA256 over
// "<t>.<raw body>" with the shared secret, compare in constant time, and
// refuse timestamps older than the tolerance.
bool ReceiverAccepts(const HttpPeer::Request& q, const std::string& secret,
                     std::chrono::seconds tolerance = std::chrono::seconds(300)) {
  const std::string header = q.Header("x-cairn-signature");
  std::string t;
  std::string v1;
  size_t start = 0;
  while (start < header.size()) {
    size_t end = header.find(',', start);
    if (end == std::string::npos) end = header.size();
    const std::string part = header.substr(start, end - start);
    if (part.rfind("t=", 0) == 0) t = part.substr(2);
    if (part.rfind("v1=", 0) == 0) v1 = part.substr(3);
    start = end + 1;
  }
  if (t.empty() || v1.size() != 64 || t != q.Header("x-cairn-timestamp")) return false;
  const std::string payload = t + "." + q.body;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(payload.data()), payload.size(), mac, &len);
  unsigned char got[32];
  for (size_t i = 0; i < 32; ++i)
    got[i] = static_cast<unsigned char>(std::stoi(v1.substr(2 * i, 2), nullptr, 16));
  if (len != 32 || CRYPTO_memcmp(mac, got, 32) != 0) return false;
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
      std::chrono::system_clock::now().time_since_epoch());
  return std::chrono::abs(now - std::chrono::seconds(std::stoll(t))) <= tolerance;
}

class WebhookTest : public ::testing::Test {
 protected:
  void SetUp() override {
    peer_.Start();
    testing::WriteFile(secret_path_, std::string(kSecret) + "\n");
  }
  std::unique_ptr<Connector> Make(const std::string& extra = "") {
    auto c = testing::MakeConnector(
        *factory_,
        "url: " + peer_.url("/hooks/cairn?src=1") + "\nsecret_file: " + secret_path_ + "\n" + extra,
        "crm_hook");
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? std::move(c).value() : nullptr;
  }
  static OutboundMessage Message() {
    OutboundMessage m;
    m.task_id = "task-w1";
    m.customer_id = "c9";
    m.journey = "winback";
    m.step = "notify_crm";
    m.channel = "webhook";
    m.content["body"] = R"({"customer":"c9","offer":"VIP20","note":"caf\u00e9"})";
    m.task_json = R"({"task_id":"task-w1"})";
    return m;
  }

  std::unique_ptr<ConnectorFactory> factory_ = NewWebhookFactory();
  testing::TempDir dir_;
  std::string secret_path_ = dir_.Sub("hook-secret");
  HttpPeer peer_;
};

TEST_F(WebhookTest, RequestShapeAndSignature) {
  EXPECT_EQ(factory_->type(), "webhook");
  auto hook = Make("headers: {X-Api-Version: \"3\"}\n");
  ASSERT_TRUE(hook);
  peer_.Script(Response::Status(202).WithHeader("X-Request-Id", "rq-77"));
  const SendResult r = hook->Send(Message());
  EXPECT_EQ(r.outcome, SendOutcome::kAccepted) << r.detail;
  EXPECT_EQ(r.code, 202);
  EXPECT_EQ(r.provider_id, "rq-77");

  const auto q = peer_.Requests().at(0);
  EXPECT_EQ(q.method, "POST");
  EXPECT_EQ(q.target, "/hooks/cairn?src=1");
  EXPECT_EQ(q.body, Message().content["body"]);
  EXPECT_EQ(q.Header("content-type"), "application/json");
  EXPECT_EQ(q.Header("x-cairn-task-id"), "task-w1");
  EXPECT_EQ(q.Header("idempotency-key"), "task-w1");
  EXPECT_EQ(q.Header("user-agent"), "cairn/0.1");
  EXPECT_EQ(q.Header("x-api-version"), "3");
  EXPECT_TRUE(ReceiverAccepts(q, kSecret)) << q.Header("x-cairn-signature");
  // The check fails with another secret, a changed body or an old stamp.
  EXPECT_FALSE(ReceiverAccepts(q, "whsec_other"));
  auto tampered = q;
  tampered.body += " ";
  EXPECT_FALSE(ReceiverAccepts(tampered, kSecret));
  EXPECT_FALSE(ReceiverAccepts(q, kSecret, std::chrono::seconds(-1)));
  // The helper agrees with the receiver's own computation.
  const int64_t t = std::stoll(q.Header("x-cairn-timestamp"));
  EXPECT_EQ(WebhookSignature(kSecret, t, q.body), q.Header("x-cairn-signature"));
}

TEST_F(WebhookTest, KnownSignatureVector) {
  // HMAC-SHA256("key", "1700000000.{}"), computed with
  // `printf '1700000000.{}' | openssl dgst -sha256 -hmac key`.
  EXPECT_EQ(WebhookSignature("key", 1700000000, "{}"),
            "t=1700000000,v1=9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae");
}

TEST_F(WebhookTest, TaskJsonWhenNoBodyAndNonJsonBodyRefused) {
  auto hook = Make();
  ASSERT_TRUE(hook);
  OutboundMessage m = Message();
  m.content.clear();
  ASSERT_EQ(hook->Send(m).outcome, SendOutcome::kAccepted);
  const auto q = peer_.Requests().at(0);
  EXPECT_EQ(q.body, R"({"task_id":"task-w1"})");
  EXPECT_TRUE(ReceiverAccepts(q, kSecret));

  m.content["body"] = "Hello {{name}}";
  SendResult r = hook->Send(m);
  EXPECT_EQ(r.outcome, SendOutcome::kPermanent);
  EXPECT_NE(r.detail.find("not JSON"), std::string::npos) << r.detail;
  m.content.clear();
  m.task_json.clear();
  r = hook->Send(m);
  EXPECT_EQ(r.outcome, SendOutcome::kPermanent);
  EXPECT_EQ(peer_.Count(), 1u);
}

TEST_F(WebhookTest, RetriesKeepTheKeyAndAreSignedAnew) {
  auto hook = Make();
  ASSERT_TRUE(hook);
  peer_.SetIdempotent(true);
  peer_.Script({Response::Status(502), Response::Status(200, "ok")});
  OutboundMessage m = Message();
  EXPECT_EQ(hook->Send(m).outcome, SendOutcome::kRetryable);
  m.attempt = 2;
  EXPECT_EQ(hook->Send(m).outcome, SendOutcome::kAccepted);
  m.attempt = 3;  // e.g. the ack was lost: the receiver sees the key again
  const SendResult again = hook->Send(m);
  EXPECT_EQ(again.outcome, SendOutcome::kAccepted);
  EXPECT_EQ(peer_.Count(), 2u);
  EXPECT_EQ(peer_.DistinctKeys(), 1u);
  EXPECT_EQ(peer_.Duplicates(), 1u);
  for (const auto& q : peer_.Requests()) {
    EXPECT_EQ(q.Header("idempotency-key"), "task-w1");
    EXPECT_TRUE(ReceiverAccepts(q, kSecret));
  }
}

TEST_F(WebhookTest, ClassificationTable) {
  auto hook = Make("timeout: 300ms\n");
  ASSERT_TRUE(hook);
  peer_.Script(Response::Status(429).WithHeader("Retry-After", "3"));
  SendResult r = hook->Send(Message());
  EXPECT_EQ(r.outcome, SendOutcome::kRetryable);
  EXPECT_EQ(r.retry_after_ms, 3000);
  peer_.Script(Response::Status(429).WithHeader("Retry-After", testing::HttpDateIn(30)));
  r = hook->Send(Message());
  EXPECT_EQ(r.outcome, SendOutcome::kRetryable);
  EXPECT_GE(r.retry_after_ms, 28'000);
  EXPECT_LE(r.retry_after_ms, 30'000);
  for (int s : {500, 408}) {
    peer_.Script(Response::Status(s));
    r = hook->Send(Message());
    EXPECT_EQ(r.outcome, SendOutcome::kRetryable) << s;
    EXPECT_EQ(r.code, s);
  }
  peer_.Script(Response::Json(400, R"({"error":"unknown field 'offer'"})"));
  r = hook->Send(Message());
  EXPECT_EQ(r.outcome, SendOutcome::kPermanent);
  EXPECT_EQ(r.detail, "HTTP 400: unknown field 'offer'");
  peer_.Script(Response::Status(404, "<html>\n<body>Not Found</body>\n</html>\n"));
  r = hook->Send(Message());
  EXPECT_EQ(r.outcome, SendOutcome::kPermanent);
  EXPECT_EQ(r.code, 404);
  EXPECT_EQ(r.detail, "HTTP 404: <html> <body>Not Found</body> </html>");

  peer_.Script(Response::Status(200).WithDelay(milliseconds(3000)));
  r = hook->Send(Message());
  EXPECT_EQ(r.outcome, SendOutcome::kUnknown);

  auto down = testing::MakeConnector(*factory_, "url: http://" + testing::FreeLoopbackAddress() +
                                                    "/h\nsecret_file: " + secret_path_ + "\n");
  ASSERT_TRUE(down.ok());
  r = down.value()->Send(Message());
  EXPECT_EQ(r.outcome, SendOutcome::kRetryable);
  EXPECT_EQ(r.code, 0);
}

TEST_F(WebhookTest, ConfigErrorsNameTheField) {
  auto err = [&](const std::string& yaml) {
    return testing::ConfigError(*factory_, yaml, "crm_hook");
  };
  const std::string secret = "secret_file: " + secret_path_ + "\n";
  EXPECT_NE(err(secret).find("connectors.crm_hook.url"), std::string::npos);
  EXPECT_NE(err("url: mailto:x@y\n" + secret).find("connectors.crm_hook.url"), std::string::npos);
  EXPECT_NE(err("url: http://h/x\n").find("connectors.crm_hook.secret_file"), std::string::npos);
  const std::string empty = dir_.Sub("empty");
  testing::WriteFile(empty, "\n");
  EXPECT_NE(
      err("url: http://h/x\nsecret_file: " + empty + "\n").find("connectors.crm_hook.secret_file"),
      std::string::npos);
  EXPECT_NE(err("url: http://h/x\n" + secret + "method: GET\n").find("connectors.crm_hook.method"),
            std::string::npos);
  EXPECT_NE(err("url: http://h/x\n" + secret + "headers: {X-Cairn-Signature: forged}\n")
                .find("connectors.crm_hook.headers"),
            std::string::npos);
  EXPECT_NE(err("url: http://h/x\n" + secret + "headers: {x-cairn-extra: y}\n")
                .find("connectors.crm_hook.headers"),
            std::string::npos);
  EXPECT_EQ(err("url: http://h/x\n" + secret + "method: POST\n"), "");
}

}  // namespace
}  // namespace cairn::connectors
