#include "http_peer.h"

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http.hpp>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <unordered_set>

namespace cairn::testing {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;

std::string HttpPeerRequest::Header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (beast::iequals(n, name)) return v;
  }
  return {};
}

bool HttpPeerRequest::HasHeader(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (beast::iequals(n, name)) return true;
  }
  return false;
}

struct HttpPeer::State {
  mutable std::mutex mu;
  Options options;
  Response fallback;
  std::deque<Response> script;
  Handler handler;
  std::vector<Request> requests;
  size_t recorded = 0;
  size_t received = 0;
  size_t duplicates = 0;
  std::unordered_set<std::string> keys;                // among the recorded
  std::unordered_map<std::string, Response> answered;  // key -> first 2xx

  // Picks the answer for `req` and records it (see the header for the rules).
  Response Decide(Request req) {
    Handler h;
    {
      std::lock_guard<std::mutex> lock(mu);
      ++received;
      const std::string& key = req.idempotency_key;
      if (!key.empty()) {
        auto it = answered.find(key);
        if (it != answered.end()) {
          ++duplicates;
          if (options.idempotent) {
            Response again = it->second;
            again.delay = std::chrono::milliseconds(0);
            return again;
          }
        }
      }
      h = handler;
    }
    std::optional<Response> chosen;
    if (h) chosen = h(req);  // outside the lock: it may call back into the peer
    std::lock_guard<std::mutex> lock(mu);
    if (!chosen) {
      if (!script.empty()) {
        chosen = std::move(script.front());
        script.pop_front();
      } else {
        chosen = fallback;
      }
    }
    const bool ok = !chosen->close_without_answer && chosen->status >= 200 && chosen->status < 300;
    if (!req.idempotency_key.empty()) {
      keys.insert(req.idempotency_key);
      if (ok) answered.emplace(req.idempotency_key, *chosen);
    }
    ++recorded;
    if (options.record_requests) {
      if (!options.record_bodies) req.body.clear();
      requests.push_back(std::move(req));
    }
    return *chosen;
  }
};

namespace {

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, std::shared_ptr<HttpPeer::State> state, uint64_t id)
      : socket_(std::move(socket)),
        timer_(socket_.get_executor()),
        state_(std::move(state)),
        id_(id) {}

  void Run() { ReadHeader(); }

 private:
  void ReadHeader() {
    parser_.emplace();
    parser_->body_limit(64u << 20);
    parser_->header_limit(64u << 10);
    http::async_read_header(
        socket_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  void OnHeader(beast::error_code ec) {
    if (ec) return Close();
    const auto& req = parser_->get();
    if (beast::iequals(req[http::field::expect], "100-continue") && !parser_->is_done()) {
      auto cont = std::make_shared<http::response<http::empty_body>>(http::status::continue_,
                                                                     req.version());
      http::async_write(socket_, *cont,
                        [self = shared_from_this(), cont](beast::error_code wec, size_t) {
                          if (wec) return self->Close();
                          self->ReadBody();
                        });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    http::async_read(
        socket_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRequest(ec); });
  }

  void OnRequest(beast::error_code ec) {
    if (ec) return Close();
    http::request<http::string_body> req = parser_->release();
    keep_alive_ = req.keep_alive();
    version_ = req.version();
    HttpPeerRequest r;
    r.method = std::string(req.method_string());
    r.target = std::string(req.target());
    r.version = static_cast<int>(req.version());
    for (const auto& f : req) {
      r.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    }
    r.idempotency_key = r.Header("idempotency-key");
    r.body = std::move(req.body());
    r.arrival = std::chrono::steady_clock::now();
    r.arrival_wall = std::chrono::system_clock::now();
    r.connection = id_;
    response_ = state_->Decide(std::move(r));
    if (response_.delay.count() > 0) {
      timer_.expires_after(response_.delay);
      timer_.async_wait([self = shared_from_this()](beast::error_code tec) {
        if (tec) return self->Close();
        self->Answer();
      });
      return;
    }
    Answer();
  }

  void Answer() {
    if (response_.close_without_answer) return Close();
    res_ = {};
    res_.version(version_);
    res_.result(static_cast<unsigned>(response_.status));
    res_.keep_alive(keep_alive_);
    for (const auto& [name, value] : response_.headers) res_.insert(name, value);
    res_.body() = response_.body;
    res_.prepare_payload();
    http::async_write(socket_, res_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->Close();
      if (self->res_.need_eof() || !self->res_.keep_alive()) return self->Close();
      self->ReadHeader();
    });
  }

  void Close() {
    beast::error_code ignored;
    timer_.cancel();
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

  tcp::socket socket_;
  net::steady_timer timer_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> res_;
  HttpPeerResponse response_;
  bool keep_alive_ = true;
  unsigned version_ = 11;
  std::shared_ptr<HttpPeer::State> state_;
  uint64_t id_;
};

}  // namespace

struct HttpPeer::Server {
  std::unique_ptr<net::io_context> ioc;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::vector<std::thread> threads;
  std::atomic<uint64_t> next_id{0};
  tcp::endpoint endpoint;

  void Accept(const std::shared_ptr<State>& state) {
    acceptor->async_accept(
        net::make_strand(*ioc), [this, state](beast::error_code ec, tcp::socket socket) {
          if (ec == net::error::operation_aborted) return;
          if (!ec) {
            socket.set_option(tcp::no_delay(true), ec);
            std::make_shared<Session>(std::move(socket), state, ++next_id)->Run();
          }
          Accept(state);
        });
  }
};

HttpPeer::HttpPeer() : HttpPeer(Options{}) {}

HttpPeer::HttpPeer(Options options)
    : options_(std::move(options)), state_(std::make_shared<State>()) {
  state_->options = options_;
}

HttpPeer::~HttpPeer() { Stop(); }

void HttpPeer::Start() {
  if (server_) return;
  auto server = std::make_unique<Server>();
  server->ioc = std::make_unique<net::io_context>(options_.threads);
  server->acceptor = std::make_unique<tcp::acceptor>(*server->ioc);
  beast::error_code ec;
  const tcp::endpoint ep(net::ip::make_address(options_.host, ec), options_.port);
  if (ec) throw std::runtime_error("HttpPeer: bad host " + options_.host);
  server->acceptor->open(ep.protocol(), ec);
  if (!ec) server->acceptor->set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) server->acceptor->bind(ep, ec);
  if (!ec) server->acceptor->listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    throw std::runtime_error("HttpPeer: cannot listen on " + options_.host + ":" +
                             std::to_string(options_.port) + ": " + ec.message());
  }
  server->endpoint = server->acceptor->local_endpoint();
  server->Accept(state_);
  for (int i = 0; i < std::max(1, options_.threads); ++i) {
    server->threads.emplace_back([ioc = server->ioc.get()] { ioc->run(); });
  }
  server_ = std::move(server);
}

void HttpPeer::Stop() {
  if (!server_) return;
  server_->ioc->stop();
  for (auto& t : server_->threads) t.join();
  server_->acceptor.reset();
  server_->ioc.reset();  // destroys the pending handlers, hence the sessions and sockets
  server_.reset();
}

std::string HttpPeer::address() const {
  if (!server_) return {};
  return server_->endpoint.address().to_string() + ":" + std::to_string(server_->endpoint.port());
}

uint16_t HttpPeer::port() const { return server_ ? server_->endpoint.port() : 0; }

std::string HttpPeer::url(std::string_view path) const {
  return "http://" + address() + std::string(path);
}

void HttpPeer::SetDefault(Response response) {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->fallback = std::move(response);
}

void HttpPeer::Script(Response response, int times) {
  std::lock_guard<std::mutex> lock(state_->mu);
  for (int i = 0; i < times; ++i) state_->script.push_back(response);
}

void HttpPeer::Script(std::vector<Response> responses) {
  std::lock_guard<std::mutex> lock(state_->mu);
  for (auto& r : responses) state_->script.push_back(std::move(r));
}

void HttpPeer::SetHandler(Handler handler) {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->handler = std::move(handler);
}

void HttpPeer::SetIdempotent(bool on) {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->options.idempotent = on;
}

std::vector<HttpPeer::Request> HttpPeer::Requests() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->requests;
}

size_t HttpPeer::Count() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->recorded;
}

size_t HttpPeer::Received() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->received;
}

size_t HttpPeer::DistinctKeys() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->keys.size();
}

size_t HttpPeer::Duplicates() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->duplicates;
}

size_t HttpPeer::ScriptLeft() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->script.size();
}

bool HttpPeer::WaitForCount(size_t n, std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (Count() >= n) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

void HttpPeer::Clear() {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->requests.clear();
  state_->script.clear();
  state_->keys.clear();
  state_->answered.clear();
  state_->recorded = 0;
  state_->received = 0;
  state_->duplicates = 0;
}

}  // namespace cairn::testing
