// connectors/common/http: the request, Retry-After, the classification
// table, the common config keys and secret files, against HttpPeer.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "common/http.h"
#include "h2c_server.h"
#include "http_peer.h"
#include "http_test_util.h"
#include "test_support.h"

namespace cairn::connectors {
namespace {

using std::chrono::milliseconds;
using testing::HttpPeer;

TEST(RetryAfter, SecondsAndHttpDates) {
  const auto now = std::chrono::system_clock::from_time_t(1'445'413'200);  // 2015-10-21 07:40 UTC
  EXPECT_EQ(ParseRetryAfterMs("120", now), 120'000);
  EXPECT_EQ(ParseRetryAfterMs(" 0 ", now), 0);
  // The three HTTP-date forms, 07:41:00 GMT = 60 s after `now`.
  EXPECT_EQ(ParseRetryAfterMs("Wed, 21 Oct 2015 07:41:00 GMT", now), 60'000);
  EXPECT_EQ(ParseRetryAfterMs("Wednesday, 21-Oct-15 07:41:00 GMT", now), 60'000);
  EXPECT_EQ(ParseRetryAfterMs("Wed Oct 21 07:41:00 2015", now), 60'000);
  EXPECT_EQ(ParseRetryAfterMs("Wed, 21 Oct 2015 07:00:00 GMT", now), 0);  // past
  EXPECT_EQ(ParseRetryAfterMs("", now), -1);
  EXPECT_EQ(ParseRetryAfterMs("soon", now), -1);
  EXPECT_EQ(ParseRetryAfterMs("-5", now), -1);
  EXPECT_EQ(ParseRetryAfterMs("1.5", now), -1);
  EXPECT_EQ(ParseRetryAfterMs("99999999999999999999", now), -1);
}

TEST(BodyErrorMessage, JsonShapesAndText) {
  EXPECT_EQ(BodyErrorMessage(R"({"code":21211,"message":"bad 'To'"})"), "bad 'To'");
  EXPECT_EQ(BodyErrorMessage(R"({"error":{"code":404,"message":"not found"}})"), "not found");
  EXPECT_EQ(BodyErrorMessage(R"({"error":"invalid_grant","error_description":"expired"})"),
            "expired");
  EXPECT_EQ(BodyErrorMessage(R"({"error":"nope"})"), "nope");
  EXPECT_EQ(BodyErrorMessage(R"({"detail":"why"})"), "why");
  EXPECT_EQ(BodyErrorMessage("plain\r\ntext\n  here\n"), "plain text here");
  const std::string long_text(5000, 'x');
  const std::string cut = BodyErrorMessage(long_text);
  EXPECT_EQ(cut.size(), kMaxDetail + 3);
  EXPECT_EQ(cut.substr(kMaxDetail), "...");
}

class HttpClientTest : public ::testing::Test {
 protected:
  void SetUp() override { peer_.Start(); }

  HttpResponse Post(HttpClient& client, const std::string& key = "task-1") {
    HttpRequest req;
    req.url = peer_.url("/hook");
    req.body = R"({"a":1})";
    req.idempotency_key = key;
    req.headers = {{"Content-Type", "application/json"}};
    return client.Perform(req);
  }
  SendResult Classified(HttpPeer::Response scripted) {
    peer_.Script(std::move(scripted));
    HttpClient client({});
    return ClassifyHttp(Post(client));
  }

  HttpPeer peer_;
};

TEST_F(HttpClientTest, SendsCommonHeadersAndReusesTheConnection) {
  HttpOptions options;
  options.headers = {{"X-Tenant", "acme"}};
  HttpClient client(options);
  peer_.Script(HttpPeer::Response::Json(201, R"({"ok":true})").WithHeader("X-Id", "abc"));
  const HttpResponse first = Post(client, "k1");
  ASSERT_EQ(first.curl_code, CURLE_OK) << first.error;
  EXPECT_EQ(first.status, 201);
  EXPECT_EQ(first.body, R"({"ok":true})");
  EXPECT_EQ(first.Header("x-id"), "abc");
  EXPECT_EQ(first.Header("X-ID"), "abc");
  EXPECT_EQ(first.http_version, CURL_HTTP_VERSION_1_1);
  const HttpResponse second = Post(client, "k2");
  ASSERT_EQ(second.status, 200);

  const auto reqs = peer_.Requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[0].target, "/hook");
  EXPECT_EQ(reqs[0].body, R"({"a":1})");
  EXPECT_EQ(reqs[0].Header("user-agent"), "cairn/0.1");
  EXPECT_EQ(reqs[0].Header("idempotency-key"), "k1");
  EXPECT_EQ(reqs[0].Header("x-tenant"), "acme");
  EXPECT_EQ(reqs[0].Header("content-type"), "application/json");
  EXPECT_FALSE(reqs[0].HasHeader("expect"));
  EXPECT_EQ(reqs[1].Header("idempotency-key"), "k2");
  EXPECT_EQ(reqs[0].connection, reqs[1].connection) << "the connection is kept between sends";
}

TEST_F(HttpClientTest, ClassificationTable) {
  for (int s : {200, 201, 202, 204}) {
    const SendResult r = Classified(HttpPeer::Response::Status(s));
    EXPECT_EQ(r.outcome, SendOutcome::kAccepted) << s;
    EXPECT_EQ(r.code, s);
  }
  for (int s : {408, 429, 500, 502, 503, 504}) {
    const SendResult r = Classified(HttpPeer::Response::Status(s, "busy"));
    EXPECT_EQ(r.outcome, SendOutcome::kRetryable) << s;
    EXPECT_EQ(r.code, s);
    EXPECT_EQ(r.retry_after_ms, -1) << s;
    EXPECT_EQ(r.detail, "HTTP " + std::to_string(s) + ": busy");
  }
  for (int s : {400, 401, 403, 404, 409, 413, 422}) {
    const SendResult r =
        Classified(HttpPeer::Response::Json(s, R"({"error":{"message":"no such thing"}})"));
    EXPECT_EQ(r.outcome, SendOutcome::kPermanent) << s;
    EXPECT_EQ(r.code, s);
    EXPECT_EQ(r.detail, "HTTP " + std::to_string(s) + ": no such thing");
    EXPECT_FALSE(r.recipient_rejected);
  }
  const SendResult moved = Classified(
      HttpPeer::Response::Status(301).WithHeader("Location", "https://elsewhere.example/"));
  EXPECT_EQ(moved.outcome, SendOutcome::kPermanent);
  EXPECT_NE(moved.detail.find("elsewhere.example"), std::string::npos) << moved.detail;
}

TEST_F(HttpClientTest, RetryAfterOnRetryableAnswers) {
  SendResult r = Classified(HttpPeer::Response::Status(429).WithHeader("Retry-After", "7"));
  EXPECT_EQ(r.outcome, SendOutcome::kRetryable);
  EXPECT_EQ(r.retry_after_ms, 7000);
  r = Classified(
      HttpPeer::Response::Status(503).WithHeader("Retry-After", testing::HttpDateIn(90)));
  EXPECT_EQ(r.outcome, SendOutcome::kRetryable);
  EXPECT_GE(r.retry_after_ms, 88'000);
  EXPECT_LE(r.retry_after_ms, 90'000);
}

TEST_F(HttpClientTest, RefusedIsRetryableTimeoutAndCutAreUnknown) {
  HttpOptions options;
  options.timeout_ms = 300;
  HttpClient client(options);
  HttpRequest req;
  req.url = "http://" + testing::FreeLoopbackAddress() + "/x";  // nobody listens
  SendResult r = ClassifyHttp(client.Perform(req));
  EXPECT_EQ(r.outcome, SendOutcome::kRetryable);
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.detail.find("not sent"), std::string::npos) << r.detail;

  peer_.Script(HttpPeer::Response::Status(200).WithDelay(milliseconds(3000)));
  const auto start = std::chrono::steady_clock::now();
  r = ClassifyHttp(Post(client));
  EXPECT_EQ(r.outcome, SendOutcome::kUnknown);
  EXPECT_NE(r.detail.find("timed out"), std::string::npos) << r.detail;
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(2500));
  EXPECT_EQ(peer_.Count(), 1u) << "the request reached the peer";

  // Cut after the request went out, on a fresh connection (a reused one
  // may be retried by libcurl itself, with the same key).
  HttpClient fresh({});
  peer_.Script(HttpPeer::Response::Close());
  r = ClassifyHttp(Post(fresh));
  EXPECT_EQ(r.outcome, SendOutcome::kUnknown);
  EXPECT_NE(r.detail.find("cut off"), std::string::npos) << r.detail;
}

TEST_F(HttpClientTest, PerRequestTimeoutOverridesTheOption) {
  HttpClient client({});  // 10 s
  peer_.Script(HttpPeer::Response::Status(200).WithDelay(milliseconds(3000)));
  HttpRequest req;
  req.url = peer_.url("/slow");
  req.timeout_ms = 200;
  const auto start = std::chrono::steady_clock::now();
  const SendResult r = ClassifyHttp(client.Perform(req));
  EXPECT_EQ(r.outcome, SendOutcome::kUnknown);
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(2000));
}

TEST(HttpOverH2c, PriorKnowledgeSpeaksHttp2) {
  testing::H2cServer server;
  server.Start();
  HttpOptions options;
  options.http_version = CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE;
  HttpClient client(options);
  HttpRequest req;
  req.url = server.url() + "/v1/x";
  req.body = "{}";
  req.idempotency_key = "k";
  // Several in a row on one client (libcurl 7.88 cannot reuse an h2c
  // connection: HttpClient works around it).
  for (int i = 0; i < 3; ++i) {
    const HttpResponse resp = client.Perform(req);
    ASSERT_EQ(resp.curl_code, CURLE_OK) << i << ": " << resp.error;
    EXPECT_EQ(resp.http_version, CURL_HTTP_VERSION_2_0);
    EXPECT_EQ(resp.status, 200);
  }
  ASSERT_EQ(server.Count(), 3u);
  EXPECT_EQ(server.Requests()[0].Header("idempotency-key"), "k");
  EXPECT_EQ(server.Requests()[0].method, "POST");
  EXPECT_EQ(server.Requests()[0].body, "{}");
}

TEST(HttpOptionsConfig, DefaultsAndErrorsNameTheField) {
  auto read = [](const std::string& yaml) -> Result<HttpOptions> {
    auto fields = dispatch::YamlConfigFields::FromText(yaml, "cairn.yaml", "connectors.h");
    if (!fields.ok()) return fields.status();
    return ReadHttpOptions(*fields.value(), {"authorization"});
  };
  auto d = read("{}");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->timeout_ms, 10'000);
  EXPECT_EQ(d->connect_timeout_ms, 5'000);
  EXPECT_FALSE(d->insecure_skip_verify);
  EXPECT_TRUE(d->headers.empty());

  auto set = read(
      "timeout: 2s\nconnect_timeout: 250ms\ninsecure_skip_verify: true\n"
      "headers: {X-Tenant: acme}\n");
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_EQ(set->timeout_ms, 2000);
  EXPECT_EQ(set->connect_timeout_ms, 250);
  EXPECT_TRUE(set->insecure_skip_verify);
  ASSERT_EQ(set->headers.size(), 1u);
  EXPECT_EQ(set->headers[0].first, "X-Tenant");

  auto err = [&](const std::string& yaml) { return read(yaml).status().message(); };
  EXPECT_NE(err("timeout: soon").find("connectors.h.timeout"), std::string::npos);
  EXPECT_NE(err("timeout: 0").find("connectors.h.timeout"), std::string::npos);
  EXPECT_NE(err("connect_timeout: x").find("connectors.h.connect_timeout"), std::string::npos);
  EXPECT_NE(err("ca_file: /no/such/ca.pem").find("connectors.h.ca_file"), std::string::npos);
  EXPECT_NE(err("insecure_skip_verify: maybe").find("connectors.h.insecure_skip_verify"),
            std::string::npos);
  EXPECT_NE(err("headers: {Idempotency-Key: x}").find("connectors.h.headers"), std::string::npos);
  EXPECT_NE(err("headers: {authorization: x}").find("connectors.h.headers"), std::string::npos);
  EXPECT_NE(err("headers: {\"bad name\": x}").find("connectors.h.headers"), std::string::npos);
  EXPECT_NE(err("headers: [a, b]").find("connectors.h.headers"), std::string::npos);
  EXPECT_NE(err("timeout: soon").find("cairn.yaml:1:"), std::string::npos);
}

TEST(HttpUrlConfig, SchemeAndHost) {
  auto read = [](const std::string& yaml) -> Result<std::string> {
    auto fields = dispatch::YamlConfigFields::FromText(yaml, "cairn.yaml", "connectors.h");
    if (!fields.ok()) return fields.status();
    return ReadHttpUrl(*fields.value(), "url");
  };
  auto ok = read("url: https://api.example.com/");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, "https://api.example.com");
  EXPECT_EQ(*read("url: http://127.0.0.1:8080/base"), "http://127.0.0.1:8080/base");
  for (const char* bad :
       {"url: ftp://x", "url: example.com", "url: http://", "url: http:///x", "{}", "url: [1]"}) {
    auto r = read(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.status().message().find("connectors.h.url"), std::string::npos)
        << r.status().message();
  }
}

TEST(SecretFile, ReadAtLoadAndReReadWhenChanged) {
  testing::TempDir dir;
  const std::string path = dir.Sub("token");
  testing::WriteFile(path, "first\n");
  auto fields =
      dispatch::YamlConfigFields::FromText("token_file: " + path, "cairn.yaml", "connectors.h");
  ASSERT_TRUE(fields.ok());
  auto secret = SecretFile::Load(*fields.value(), "token_file");
  ASSERT_TRUE(secret.ok()) << secret.status().ToString();
  EXPECT_EQ(secret->Get(), "first");
  EXPECT_EQ(secret->Get(), "first");

  // A rotated secret: written next to it and renamed over (as a Secret
  // volume does); a different inode even if mtime and size match.
  testing::WriteFile(path + ".new", "second");
  ASSERT_EQ(std::rename((path + ".new").c_str(), path.c_str()), 0);
  EXPECT_EQ(secret->Get(), "second");
  // Emptied (mid-write): the last good value stays.
  testing::WriteFile(path, "");
  EXPECT_EQ(secret->Get(), "second");
  testing::WriteFile(path, "third  \n");
  EXPECT_EQ(secret->Get(), "third");

  auto missing = dispatch::YamlConfigFields::FromText("token_file: " + dir.Sub("nope"),
                                                      "cairn.yaml", "connectors.h");
  ASSERT_TRUE(missing.ok());
  auto bad = SecretFile::Load(*missing.value(), "token_file");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("connectors.h.token_file"), std::string::npos);
}

}  // namespace
}  // namespace cairn::connectors
