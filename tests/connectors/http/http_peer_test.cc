// HttpPeer (tests/support/http_peer.h): recording, the script, delays,
// closes, the handler hook, idempotent mode, keep-alive and many clients.
#include "http_peer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

#include "common/http.h"
#include "http_test_util.h"
#include "test_support.h"

namespace cairn::testing {
namespace {

using connectors::HttpClient;
using connectors::HttpRequest;
using connectors::HttpResponse;
using std::chrono::milliseconds;
using Response = HttpPeer::Response;

HttpResponse Post(HttpClient& client, const HttpPeer& peer, const std::string& key,
                  const std::string& body = "{}", const std::string& path = "/x") {
  HttpRequest req;
  req.url = peer.url(path);
  req.idempotency_key = key;
  req.body = body;
  req.headers = {{"X-Mixed-Case", "Value"}};
  return client.Perform(req);
}

TEST(HttpPeer, RecordsRequestsAndAnswersByScriptThenDefault) {
  HttpPeer peer;
  peer.Start();
  EXPECT_EQ(peer.url("/a"), "http://" + peer.address() + "/a");
  EXPECT_NE(peer.port(), 0);
  peer.SetDefault(Response::Json(202, R"({"d":1})"));
  peer.Script({Response::Status(503, "first"), Response::Status(201, "second")});
  peer.Script(Response::Status(429), 2);
  EXPECT_EQ(peer.ScriptLeft(), 4u);

  HttpClient client({});
  const auto before = std::chrono::steady_clock::now();
  std::vector<int> statuses;
  for (int i = 0; i < 6; ++i) {
    statuses.push_back(Post(client, peer, "k" + std::to_string(i), "body" + std::to_string(i),
                            "/p?i=" + std::to_string(i))
                           .status);
  }
  EXPECT_EQ(statuses, (std::vector<int>{503, 201, 429, 429, 202, 202}));
  EXPECT_EQ(peer.ScriptLeft(), 0u);
  EXPECT_EQ(peer.Count(), 6u);
  EXPECT_EQ(peer.Received(), 6u);
  EXPECT_EQ(peer.DistinctKeys(), 6u);
  EXPECT_EQ(peer.Duplicates(), 0u);
  const auto reqs = peer.Requests();
  ASSERT_EQ(reqs.size(), 6u);
  EXPECT_EQ(reqs[3].method, "POST");
  EXPECT_EQ(reqs[3].target, "/p?i=3");
  EXPECT_EQ(reqs[3].body, "body3");
  EXPECT_EQ(reqs[3].version, 11);
  EXPECT_EQ(reqs[3].idempotency_key, "k3");
  EXPECT_EQ(reqs[3].Header("x-mixed-case"), "Value");
  EXPECT_EQ(reqs[3].Header("X-MIXED-CASE"), "Value");
  EXPECT_TRUE(reqs[3].HasHeader("Idempotency-Key"));
  EXPECT_FALSE(reqs[3].HasHeader("X-Absent"));
  EXPECT_EQ(reqs[3].Header("X-Absent"), "");
  EXPECT_GE(reqs[0].arrival, before);
  EXPECT_LE(reqs[0].arrival, reqs[5].arrival);
  EXPECT_EQ(reqs[0].connection, reqs[5].connection) << "keep-alive";

  peer.Clear();
  EXPECT_EQ(peer.Count(), 0u);
  EXPECT_EQ(peer.Requests().size(), 0u);
  EXPECT_EQ(Post(client, peer, "k0").status, 202);
  EXPECT_EQ(peer.DistinctKeys(), 1u);
}

TEST(HttpPeer, ResponseHeadersDelayAndClose) {
  HttpPeer peer;
  peer.Start();
  HttpClient client({});
  peer.Script(Response::Status(429).WithHeader("Retry-After", "5").WithHeader("X-A", "b"));
  HttpResponse r = Post(client, peer, "a");
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.Header("retry-after"), "5");
  EXPECT_EQ(r.Header("x-a"), "b");

  peer.Script(Response::Status(200).WithDelay(milliseconds(300)));
  const auto start = std::chrono::steady_clock::now();
  r = Post(client, peer, "b");
  EXPECT_EQ(r.status, 200);
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(300));

  HttpClient fresh({});
  peer.Script(Response::Close());
  r = Post(fresh, peer, "c");
  EXPECT_NE(r.curl_code, CURLE_OK);
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(peer.Count(), 3u) << "a dropped request is still recorded";
  // The peer serves on after a close.
  EXPECT_EQ(Post(fresh, peer, "d").status, 200);
}

TEST(HttpPeer, DelayedAnswersDoNotBlockOtherConnections) {
  HttpPeer::Options options;
  options.threads = 1;  // even on one thread: the delay is a timer
  HttpPeer peer(options);
  peer.Start();
  peer.SetHandler([](const HttpPeer::Request& q) -> std::optional<Response> {
    if (q.target == "/slow") return Response::Status(200).WithDelay(milliseconds(1500));
    return std::nullopt;
  });
  std::thread slow([&] {
    HttpClient c({});
    Post(c, peer, "slow", "{}", "/slow");
  });
  ASSERT_TRUE(peer.WaitForCount(1, milliseconds(5000)));
  HttpClient fast({});
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(Post(fast, peer, "fast").status, 200);
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(1000));
  slow.join();
}

TEST(HttpPeer, HandlerHookFallsThroughToScriptOnNullopt) {
  HttpPeer peer;
  peer.Start();
  peer.Script(Response::Status(201));
  peer.SetHandler([&peer](const HttpPeer::Request& q) -> std::optional<Response> {
    if (q.Header("idempotency-key") == "teapot") return Response::Status(418, "short and stout");
    (void)peer.Count();  // the hook may call back into the peer
    return std::nullopt;
  });
  HttpClient client({});
  HttpResponse r = Post(client, peer, "teapot");
  EXPECT_EQ(r.status, 418);
  EXPECT_EQ(r.body, "short and stout");
  EXPECT_EQ(peer.ScriptLeft(), 1u) << "the hook's answer does not use the script";
  EXPECT_EQ(Post(client, peer, "x").status, 201);
  EXPECT_EQ(Post(client, peer, "y").status, 200);
}

TEST(HttpPeer, IdempotentModeReplaysTheFirstAcceptedAnswer) {
  HttpPeer::Options options;
  options.idempotent = true;
  HttpPeer peer(options);
  peer.Start();
  peer.Script({Response::Status(500), Response::Json(201, R"({"id":"first"})"),
               Response::Json(201, R"({"id":"never"})")});
  HttpClient client({});
  EXPECT_EQ(Post(client, peer, "k").status, 500);  // not taken: the key stays free
  HttpResponse r = Post(client, peer, "k");
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.body, R"({"id":"first"})");
  r = Post(client, peer, "k");  // a duplicate: replayed, not recorded
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.body, R"({"id":"first"})");
  EXPECT_EQ(peer.ScriptLeft(), 1u);
  EXPECT_EQ(peer.Count(), 2u);
  EXPECT_EQ(peer.Received(), 3u);
  EXPECT_EQ(peer.DistinctKeys(), 1u);
  EXPECT_EQ(peer.Duplicates(), 1u);
  // Requests without a key are never duplicates.
  EXPECT_EQ(Post(client, peer, "").status, 201);
  EXPECT_EQ(Post(client, peer, "").status, 200);
  EXPECT_EQ(peer.Duplicates(), 1u);
  EXPECT_EQ(peer.Count(), 4u);
}

TEST(HttpPeer, ManyKeepAliveClientsAtOnce) {
  HttpPeer::Options options;
  options.record_bodies = false;
  HttpPeer peer(options);
  peer.Start();
  constexpr int kClients = 4;
  constexpr int kEach = 2500;
  std::atomic<int> ok{0};
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      HttpClient client({});
      for (int i = 0; i < kEach; ++i) {
        if (Post(client, peer, std::to_string(c) + "-" + std::to_string(i)).status == 200) ++ok;
      }
    });
  }
  for (auto& t : clients) t.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(ok.load(), kClients * kEach);
  EXPECT_EQ(peer.Count(), static_cast<size_t>(kClients * kEach));
  EXPECT_EQ(peer.DistinctKeys(), static_cast<size_t>(kClients * kEach));
  std::set<uint64_t> connections;
  for (const auto& q : peer.Requests()) {
    connections.insert(q.connection);
    EXPECT_TRUE(q.body.empty());
  }
  EXPECT_EQ(connections.size(), static_cast<size_t>(kClients)) << "one kept-alive connection each";
  std::printf("RESULT http_peer requests=%d clients=%d seconds=%.3f req_per_s=%.0f\n",
              kClients * kEach, kClients, seconds, kClients * kEach / seconds);
}

TEST(HttpPeer, FixedPortAndStopIsIdempotent) {
  const std::string address = FreeLoopbackAddress();
  HttpPeer::Options options;
  options.port = static_cast<uint16_t>(std::stoi(address.substr(address.find(':') + 1)));
  HttpPeer peer(options);
  peer.Start();
  EXPECT_EQ(peer.address(), address);
  HttpPeer clash(options);
  EXPECT_THROW(clash.Start(), std::runtime_error);
  peer.Stop();
  peer.Stop();
  HttpClient client({});
  HttpRequest req;
  req.url = "http://" + address + "/";
  EXPECT_NE(client.Perform(req).curl_code, CURLE_OK) << "nothing listens after Stop";
}

}  // namespace
}  // namespace cairn::testing
