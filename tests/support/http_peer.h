// HttpPeer: a real HTTP/1.1 server on a loopback port that records every
// request and answers by a script. The peer for the HTTP connectors' tests,
// the dispatcher's tests, the crash test and the dispatch throughput bench.
//
//   HttpPeer peer;
//   peer.Start();
//   peer.Script({.status = 429, .headers = {{"Retry-After", "2"}}});
//   ... send to peer.url("/v1/send") ...
//   EXPECT_EQ(peer.Count(), 1u);
//   EXPECT_EQ(peer.Requests()[0].Header("idempotency-key"), "t1");
//
// How a request is answered, first match wins:
//   1. idempotent mode, and a request with the same Idempotency-Key was
//      already answered 2xx: that first response again (no delay), counted
//      in Duplicates() and NOT recorded in Requests() / Count();
//   2. the handler hook, when set and it returns a response;
//   3. the next scripted response (FIFO, each used once);
//   4. the default response (200, empty body unless SetDefault).
// A 2xx answer stores the response for its key (rule 1); a non-2xx or a
// close leaves the key free, so a retry after a 500 is a new delivery.
//
// Async Boost.Beast on a small thread pool: keep-alive, many connections at
// once, tens of thousands of requests per second on loopback. A delayed
// answer waits on a timer, not on a thread. Every method is thread-safe;
// the handler runs on the peer's threads, perhaps on several at once.
// The destructor stops the threads and closes every connection.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cairn::testing {

struct HttpPeerRequest {
  std::string method;  // "POST"
  std::string target;  // "/v1/send?x=1"
  int version = 11;    // 10 or 11
  // In arrival order, names as sent.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::chrono::steady_clock::time_point arrival;
  std::chrono::system_clock::time_point arrival_wall;
  uint64_t connection = 0;      // which connection brought it (1, 2, ...)
  std::string idempotency_key;  // the Idempotency-Key header, "" when none

  // The first value of header `name` (any case), "" when absent.
  std::string Header(std::string_view name) const;
  bool HasHeader(std::string_view name) const;
};

struct HttpPeerResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // Waits this long before answering (to provoke a client timeout).
  std::chrono::milliseconds delay{0};
  // Closes the connection without answering (after `delay`).
  bool close_without_answer = false;

  static HttpPeerResponse Status(int status, std::string body = {}) {
    HttpPeerResponse r;
    r.status = status;
    r.body = std::move(body);
    return r;
  }
  static HttpPeerResponse Json(int status, std::string body) {
    HttpPeerResponse r = Status(status, std::move(body));
    r.headers.emplace_back("Content-Type", "application/json");
    return r;
  }
  static HttpPeerResponse Close() {
    HttpPeerResponse r;
    r.close_without_answer = true;
    return r;
  }
  HttpPeerResponse&& WithHeader(std::string name, std::string value) && {
    headers.emplace_back(std::move(name), std::move(value));
    return std::move(*this);
  }
  HttpPeerResponse&& WithDelay(std::chrono::milliseconds d) && {
    delay = d;
    return std::move(*this);
  }
};

class HttpPeer {
 public:
  using Request = HttpPeerRequest;
  using Response = HttpPeerResponse;
  using Handler = std::function<std::optional<Response>(const Request&)>;

  struct Options {
    std::string host = "127.0.0.1";
    uint16_t port = 0;  // 0 = any free port
    int threads = 2;
    bool idempotent = false;
    // Benchmarks: false keeps counts and keys but no Request (or no body).
    bool record_requests = true;
    bool record_bodies = true;
  };

  HttpPeer();
  explicit HttpPeer(Options options);
  ~HttpPeer();
  HttpPeer(const HttpPeer&) = delete;
  HttpPeer& operator=(const HttpPeer&) = delete;

  // Binds, listens and starts the threads. Throws std::runtime_error when
  // the address cannot be bound.
  void Start();
  // Stops accepting, closes every connection, joins the threads. Idempotent.
  void Stop();

  // "127.0.0.1:PORT"
  std::string address() const;
  uint16_t port() const;
  // "http://127.0.0.1:PORT" + path
  std::string url(std::string_view path = "") const;

  void SetDefault(Response response);
  // Queues a response for the next request (after those queued before).
  void Script(Response response, int times = 1);
  void Script(std::vector<Response> responses);
  void SetHandler(Handler handler);
  void SetIdempotent(bool on);

  std::vector<Request> Requests() const;
  // Requests recorded (duplicates in idempotent mode excluded).
  size_t Count() const;
  // Every request answered or dropped, duplicates included.
  size_t Received() const;
  // Distinct Idempotency-Key values among the recorded requests.
  size_t DistinctKeys() const;
  // Requests whose Idempotency-Key had already been answered 2xx.
  size_t Duplicates() const;
  // Scripted responses not used yet.
  size_t ScriptLeft() const;
  // Polls until Count() >= n; false on timeout.
  bool WaitForCount(size_t n, std::chrono::milliseconds timeout) const;
  // Forgets the recorded requests, keys, duplicates and the script.
  void Clear();

  struct State;  // the implementation's; public for its helpers only

 private:
  Options options_;
  std::shared_ptr<State> state_;
  struct Server;
  std::unique_ptr<Server> server_;
};

}  // namespace cairn::testing
