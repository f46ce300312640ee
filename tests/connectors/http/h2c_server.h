// A small HTTP/2 server for the push connector's test: cleartext h2 with
// prior knowledge (h2c, no Upgrade), on libnghttp2's server session. One
// connection at a time, served by one thread; every request is recorded
// (method, path, headers, body) and answered by a script (FIFO), else by
// the default: 200 with an FCM-like {"name": "projects/p/messages/<n>"}.
// Test-only; thread-safe accessors; the destructor stops and joins.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace cairn::testing {

struct H2Request {
  std::string method;                                        // :method
  std::string path;                                          // :path
  std::string scheme;                                        // :scheme
  std::string authority;                                     // :authority
  std::vector<std::pair<std::string, std::string>> headers;  // regular ones, lower case
  std::string body;
  uint64_t connection = 0;
  int32_t stream_id = 0;

  std::string Header(std::string_view name) const;  // "" when absent
};

struct H2Response {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

class H2cServer {
 public:
  H2cServer() = default;
  ~H2cServer();
  H2cServer(const H2cServer&) = delete;
  H2cServer& operator=(const H2cServer&) = delete;

  // Listens on 127.0.0.1 (a free port) and starts the thread. Throws
  // std::runtime_error on failure.
  void Start();
  void Stop();
  uint16_t port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  void Script(H2Response response);
  std::vector<H2Request> Requests() const;
  size_t Count() const;
  // Connections accepted so far.
  uint64_t Connections() const { return connections_.load(); }

  // For the nghttp2 callbacks (implementation detail).
  H2Response Answer(H2Request request);

 private:
  void Loop();
  void Serve(int fd, uint64_t id);

  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> connections_{0};
  std::thread thread_;
  mutable std::mutex mu_;
  std::deque<H2Response> script_;
  std::vector<H2Request> requests_;
};

}  // namespace cairn::testing
