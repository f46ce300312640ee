// sms_http against HttpPeer: the Twilio-style request, retries with one
// key, the classification table, config errors and the token file.
#include "sms_http/sms_http.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "http_peer.h"
#include "http_test_util.h"
#include "test_support.h"

namespace cairn::connectors {
namespace {

using std::chrono::milliseconds;
using testing::HttpPeer;
using Response = HttpPeer::Response;

constexpr const char* kPath = "/2010-04-01/Accounts/AC123/Messages.json";
constexpr const char* kCreated =
    R"({"sid":"SM0123456789abcdef","status":"queued","to":"+15551230000"})";

class SmsHttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    peer_.Start();
    peer_.SetDefault(Response::Json(201, kCreated));
    testing::WriteFile(token_path_, "s3cret-token\n");
  }

  std::string Config(const std::string& extra = "") const {
    return "base_url: " + peer_.url() + "\naccount: AC123\ntoken_file: " + token_path_ +
           "\nfrom: \"+15550001111\"\n" + extra;
  }
  std::unique_ptr<Connector> Make(const std::string& extra = "") {
    auto c = testing::MakeConnector(*factory_, Config(extra), "sms");
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? std::move(c).value() : nullptr;
  }
  static OutboundMessage Message(const std::string& task = "task-1") {
    OutboundMessage m;
    m.task_id = task;
    m.customer_id = "c1";
    m.journey = "welcome";
    m.step = "sms1";
    m.channel = "sms";
    m.to = {"+15551230000"};
    m.content["body"] = "Hi Ana & co: 20% off = today!";
    m.status_callback_url = "https://cairn.example/v1/status/task-1?x=1";
    return m;
  }

  std::unique_ptr<ConnectorFactory> factory_ = NewSmsHttpFactory();
  testing::TempDir dir_;
  std::string token_path_ = dir_.Sub("twilio-token");
  HttpPeer peer_;
};

TEST_F(SmsHttpTest, FormRequestShape) {
  EXPECT_EQ(factory_->type(), "sms_http");
  auto sms = Make("headers: {X-Tenant: acme}\n");
  ASSERT_TRUE(sms);
  const SendResult r = sms->Send(Message());
  EXPECT_EQ(r.outcome, SendOutcome::kAccepted) << r.detail;
  EXPECT_EQ(r.code, 201);
  EXPECT_EQ(r.provider_id, "SM0123456789abcdef");

  const auto reqs = peer_.Requests();
  ASSERT_EQ(reqs.size(), 1u);
  const auto& q = reqs[0];
  EXPECT_EQ(q.method, "POST");
  EXPECT_EQ(q.target, kPath);
  EXPECT_EQ(q.Header("authorization"), "Basic " + testing::Base64("AC123:s3cret-token"));
  EXPECT_EQ(q.Header("content-type"), "application/x-www-form-urlencoded");
  EXPECT_EQ(q.Header("idempotency-key"), "task-1");
  EXPECT_EQ(q.Header("user-agent"), "cairn/0.1");
  EXPECT_EQ(q.Header("x-tenant"), "acme");
  const auto form = testing::DecodeForm(q.body);
  EXPECT_EQ(form.size(), 4u) << q.body;
  EXPECT_EQ(form.at("To"), "+15551230000");
  EXPECT_EQ(form.at("From"), "+15550001111");
  EXPECT_EQ(form.at("Body"), "Hi Ana & co: 20% off = today!");
  EXPECT_EQ(form.at("StatusCallback"), "https://cairn.example/v1/status/task-1?x=1");
}

TEST_F(SmsHttpTest, JsonFormatCustomPathAndNoCallback) {
  auto sms = Make("format: json\npath: /v1/{account}/sms\n");
  ASSERT_TRUE(sms);
  OutboundMessage m = Message();
  m.status_callback_url.clear();
  ASSERT_EQ(sms->Send(m).outcome, SendOutcome::kAccepted);
  const auto q = peer_.Requests().at(0);
  EXPECT_EQ(q.target, "/v1/AC123/sms");
  EXPECT_EQ(q.Header("content-type"), "application/json");
  const auto j = nlohmann::json::parse(q.body);
  EXPECT_EQ(j, nlohmann::json({{"To", "+15551230000"},
                               {"From", "+15550001111"},
                               {"Body", "Hi Ana & co: 20% off = today!"}}));
}

TEST_F(SmsHttpTest, RetriesCarryTheSameIdempotencyKey) {
  auto sms = Make();
  ASSERT_TRUE(sms);
  peer_.Script(Response::Status(500, "oops"));  // then the default 201
  OutboundMessage m = Message("task-42");
  EXPECT_EQ(sms->Send(m).outcome, SendOutcome::kRetryable);
  m.attempt = 2;
  EXPECT_EQ(sms->Send(m).outcome, SendOutcome::kAccepted);
  m.attempt = 3;
  EXPECT_EQ(sms->Send(m).outcome, SendOutcome::kAccepted);
  const auto reqs = peer_.Requests();
  ASSERT_EQ(reqs.size(), 3u);
  for (const auto& q : reqs) EXPECT_EQ(q.Header("idempotency-key"), "task-42");
  EXPECT_EQ(peer_.DistinctKeys(), 1u);
  EXPECT_EQ(peer_.Duplicates(), 1u) << "the third send repeats an accepted key";
}

TEST_F(SmsHttpTest, RetryableAnswers) {
  auto sms = Make();
  ASSERT_TRUE(sms);
  peer_.Script(Response::Json(429, R"({"code":20429,"message":"Too Many Requests"})")
                   .WithHeader("Retry-After", "30"));
  SendResult r = sms->Send(Message());
  EXPECT_EQ(r.outcome, SendOutcome::kRetryable);
  EXPECT_EQ(r.code, 429);
  EXPECT_EQ(r.retry_after_ms, 30'000);
  EXPECT_NE(r.detail.find("Too Many Requests"), std::string::npos) << r.detail;

  peer_.Script(Response::Status(429).WithHeader("Retry-After", testing::HttpDateIn(120)));
  r = sms->Send(Message());
  EXPECT_EQ(r.outcome, SendOutcome::kRetryable);
  EXPECT_GE(r.retry_after_ms, 118'000);
  EXPECT_LE(r.retry_after_ms, 120'000);

  for (int s : {500, 503, 408}) {
    peer_.Script(Response::Status(s));
    r = sms->Send(Message());
    EXPECT_EQ(r.outcome, SendOutcome::kRetryable) << s;
    EXPECT_EQ(r.code, s);
    EXPECT_EQ(r.retry_after_ms, -1);
  }
}

TEST_F(SmsHttpTest, PermanentAnswersAndRefusedNumbers) {
  auto sms = Make();
  ASSERT_TRUE(sms);
  peer_.Script(Response::Json(
      400, R"({"code":21211,"message":"The 'To' number +15551230000 is not a valid phone number.",)"
           R"("more_info":"https://www.twilio.com/docs/errors/21211","status":400})"));
  SendResult r = sms->Send(Message());
  EXPECT_EQ(r.outcome, SendOutcome::kPermanent);
  EXPECT_EQ(r.code, 400);
  EXPECT_TRUE(r.recipient_rejected);
  EXPECT_EQ(r.detail,
            "HTTP 400: [21211] The 'To' number +15551230000 is not a valid phone number.");

  peer_.Script(Response::Json(400, R"({"code":21614,"message":"not a mobile number"})"));
  r = sms->Send(Message());
  EXPECT_EQ(r.outcome, SendOutcome::kPermanent);
  EXPECT_TRUE(r.recipient_rejected);

  peer_.Script(Response::Json(400, R"({"code":21602,"message":"Message body is required."})"));
  r = sms->Send(Message());
  EXPECT_EQ(r.outcome, SendOutcome::kPermanent);
  EXPECT_FALSE(r.recipient_rejected);
  EXPECT_NE(r.detail.find("Message body is required."), std::string::npos) << r.detail;

  peer_.Script(
      Response::Json(404, R"({"code":20404,"message":"The requested resource was not found"})"));
  r = sms->Send(Message());
  EXPECT_EQ(r.outcome, SendOutcome::kPermanent);
  EXPECT_EQ(r.code, 404);
  EXPECT_FALSE(r.recipient_rejected);
  EXPECT_NE(r.detail.find("not found"), std::string::npos) << r.detail;

  peer_.Script(Response::Status(401, "Authenticate"));
  r = sms->Send(Message());
  EXPECT_EQ(r.outcome, SendOutcome::kPermanent);
  EXPECT_EQ(r.detail, "HTTP 401: Authenticate");
}

TEST_F(SmsHttpTest, BadOrMissingNumberIsRefusedWithoutARequest) {
  auto sms = Make();
  ASSERT_TRUE(sms);
  for (const std::vector<std::string>& to : std::vector<std::vector<std::string>>{
           {}, {""}, {"5551230000"}, {"+0551230000"}, {"+1555123000012345"}, {"+1 555 123"}}) {
    OutboundMessage m = Message();
    m.to = to;
    const SendResult r = sms->Send(m);
    EXPECT_EQ(r.outcome, SendOutcome::kPermanent) << (to.empty() ? "(none)" : to[0]);
    EXPECT_TRUE(r.recipient_rejected);
  }
  OutboundMessage no_body = Message();
  no_body.content.clear();
  const SendResult r = sms->Send(no_body);
  EXPECT_EQ(r.outcome, SendOutcome::kPermanent);
  EXPECT_FALSE(r.recipient_rejected);
  EXPECT_EQ(peer_.Count(), 0u);
}

TEST_F(SmsHttpTest, RefusedConnectionAndTimeout) {
  auto down = testing::MakeConnector(
      *factory_, "base_url: http://" + testing::FreeLoopbackAddress() +
                     "\naccount: AC1\ntoken_file: " + token_path_ + "\nfrom: Cairn\n");
  ASSERT_TRUE(down.ok()) << down.status().ToString();
  SendResult r = down.value()->Send(Message());
  EXPECT_EQ(r.outcome, SendOutcome::kRetryable);
  EXPECT_EQ(r.code, 0);

  auto sms = Make("timeout: 300ms\n");
  ASSERT_TRUE(sms);
  peer_.Script(Response::Json(201, kCreated).WithDelay(milliseconds(3000)));
  const auto start = std::chrono::steady_clock::now();
  r = sms->Send(Message());
  EXPECT_EQ(r.outcome, SendOutcome::kUnknown);
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(2500));
}

TEST_F(SmsHttpTest, RotatedTokenIsUsed) {
  auto sms = Make();
  ASSERT_TRUE(sms);
  ASSERT_EQ(sms->Send(Message()).outcome, SendOutcome::kAccepted);
  testing::WriteFile(token_path_ + ".new", "rotated-token-2");
  ASSERT_EQ(std::rename((token_path_ + ".new").c_str(), token_path_.c_str()), 0);
  ASSERT_EQ(sms->Send(Message()).outcome, SendOutcome::kAccepted);
  const auto reqs = peer_.Requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[1].Header("authorization"), "Basic " + testing::Base64("AC123:rotated-token-2"));
}

TEST_F(SmsHttpTest, ConfigErrorsNameTheField) {
  const std::string token = "token_file: " + token_path_ + "\n";
  auto err = [&](const std::string& yaml) { return testing::ConfigError(*factory_, yaml, "sms"); };
  EXPECT_NE(err("account: AC1\n" + token + "from: Cairn\n").find("connectors.sms.base_url"),
            std::string::npos);
  EXPECT_NE(err("base_url: ftp://x\naccount: AC1\n" + token + "from: Cairn\n")
                .find("connectors.sms.base_url"),
            std::string::npos);
  EXPECT_NE(err("base_url: http://x\n" + token + "from: Cairn\n").find("connectors.sms.account"),
            std::string::npos);
  EXPECT_NE(
      err("base_url: http://x\naccount: AC1\nfrom: Cairn\n").find("connectors.sms.token_file"),
      std::string::npos);
  EXPECT_NE(
      err("base_url: http://x\naccount: AC1\ntoken_file: " + dir_.Sub("none") + "\nfrom: Cairn\n")
          .find("connectors.sms.token_file"),
      std::string::npos);
  EXPECT_NE(err("base_url: http://x\naccount: AC1\n" + token).find("connectors.sms.from"),
            std::string::npos);
  EXPECT_NE(err("base_url: http://x\naccount: AC1\n" + token + "from: \"+0123\"\n")
                .find("connectors.sms.from"),
            std::string::npos);
  EXPECT_NE(err("base_url: http://x\naccount: AC1\n" + token + "from: TooLongSenderId\n")
                .find("connectors.sms.from"),
            std::string::npos);
  EXPECT_NE(err(Config("format: xml\n")).find("connectors.sms.format"), std::string::npos);
  EXPECT_NE(err(Config("path: no-slash\n")).find("connectors.sms.path"), std::string::npos);
  EXPECT_NE(err(Config("timeout: forever\n")).find("connectors.sms.timeout"), std::string::npos);
  EXPECT_NE(err(Config("headers: {Authorization: x}\n")).find("connectors.sms.headers"),
            std::string::npos);
  EXPECT_NE(err(Config("colour: blue\n")).find("connectors.sms.colour"), std::string::npos);
  EXPECT_NE(err(Config("format: xml\n")).find("cairn.yaml:"), std::string::npos);
  EXPECT_EQ(err(Config("format: form\nconnect_timeout: 1s\ninsecure_skip_verify: true\n")), "");
}

}  // namespace
}  // namespace cairn::connectors
