#include "api/http_server.h"

#include <spdlog/spdlog.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/url/parse.hpp>
#include <cctype>
#include <nlohmann/json.hpp>
#include <thread>

#include "cairn/host_port.h"

namespace cairn::api {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr size_t kMaxBodyBytes = 8 << 20;
constexpr auto kIdleTimeout = std::chrono::seconds(60);

bool Matches(const Route& r, const HttpRequest& req) {
  if (r.pattern.size() != req.segments.size()) return false;
  for (size_t i = 0; i < r.pattern.size(); ++i) {
    if (r.pattern[i] != "*" && r.pattern[i] != req.segments[i]) return false;
  }
  return true;
}

}  // namespace

std::string HttpRequest::Query(const std::string& name, const std::string& fallback) const {
  for (const auto& [k, v] : query) {
    if (k == name) return v;
  }
  return fallback;
}

std::string HttpRequest::Header(const std::string& name) const {
  for (const auto& [k, v] : headers) {
    if (k == name) return v;
  }
  return "";
}

HttpResponse HttpResponse::Json(int status, std::string body) {
  return {status, "application/json", std::move(body)};
}

HttpResponse HttpResponse::Error(int status, std::string_view code, std::string_view message) {
  nlohmann::json j = {{"error", {{"code", code}, {"message", message}}}};
  return Json(status, j.dump());
}

struct HttpServer::Impl {
  asio::io_context io;
  tcp::acceptor acceptor{io};
  std::vector<Route> routes;
  std::string address;
  std::thread thread;

  HttpResponse Dispatch(const HttpRequest& req) const {
    bool path_known = false;
    for (const auto& r : routes) {
      if (!Matches(r, req)) continue;
      path_known = true;
      if (r.method != req.method) continue;
      try {
        return r.handler(req);
      } catch (const std::exception& e) {
        spdlog::error("http {} {}: {}", req.method, req.path, e.what());
        return HttpResponse::Error(500, "internal", "internal error");
      }
    }
    if (path_known) return HttpResponse::Error(405, "method_not_allowed", "method not allowed");
    return HttpResponse::Error(404, "not_found", "no such endpoint: " + req.path);
  }

  static HttpRequest ToRequest(const http::request<http::string_body>& in) {
    HttpRequest req;
    req.method = std::string(in.method_string());
    req.body = in.body();
    for (const auto& field : in) {
      std::string name(field.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      req.headers.emplace_back(std::move(name), std::string(field.value()));
    }
    auto url = boost::urls::parse_origin_form(in.target());
    if (!url) {
      req.path = std::string(in.target());
      return req;
    }
    req.path = std::string(url->path());
    for (auto seg : url->segments()) req.segments.push_back(seg);
    for (auto param : url->params()) req.query.emplace_back(param.key, param.value);
    return req;
  }

  void Accept() {
    acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (ec) return;
      Session(std::make_shared<beast::tcp_stream>(std::move(socket)));
      Accept();
    });
  }

  void Session(std::shared_ptr<beast::tcp_stream> stream) {
    auto buffer = std::make_shared<beast::flat_buffer>();
    auto parser = std::make_shared<http::request_parser<http::string_body>>();
    parser->body_limit(kMaxBodyBytes);
    stream->expires_after(kIdleTimeout);
    http::async_read(
        *stream, *buffer, *parser, [this, stream, buffer, parser](beast::error_code ec, size_t) {
          if (ec) {
            if (ec != http::error::end_of_stream) {
              // Answer malformed requests; just close on network errors.
              if (ec.category() == http::make_error_code(http::error::bad_target).category()) {
                Reply(stream, HttpResponse::Error(400, "bad_request", ec.message()), false, 11);
              }
            }
            return;
          }
          auto& in = parser->get();
          HttpResponse out = Dispatch(ToRequest(in));
          Reply(stream, std::move(out), in.keep_alive(), in.version());
        });
  }

  void Reply(std::shared_ptr<beast::tcp_stream> stream, HttpResponse out, bool keep_alive,
             unsigned version) {
    auto res = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(out.status), version);
    res->set(http::field::server, "cairn");
    res->set(http::field::content_type, out.content_type);
    res->set(http::field::cache_control, "no-store");
    for (const auto& [name, value] : out.headers) res->set(name, value);
    res->keep_alive(keep_alive);
    res->body() = std::move(out.body);
    res->prepare_payload();
    http::async_write(*stream, *res, [this, stream, res](beast::error_code ec, size_t) {
      if (ec || !res->keep_alive()) {
        beast::error_code ignored;
        stream->socket().shutdown(tcp::socket::shutdown_send, ignored);
        return;
      }
      Session(stream);
    });
  }
};

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<HttpServer>> HttpServer::Start(const std::string& listen,
                                                      std::vector<Route> routes) {
  auto hp = SplitHostPort(listen);
  if (!hp.ok()) return hp.status();
  auto impl = std::make_unique<Impl>();
  impl->routes = std::move(routes);
  beast::error_code ec;
  auto ip = asio::ip::make_address(hp->first, ec);
  if (ec) return InvalidArgument("http address '" + listen + "': " + ec.message());
  tcp::endpoint ep(ip, hp->second);
  impl->acceptor.open(ep.protocol(), ec);
  if (!ec) impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(ep, ec);
  if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Unavailable("http: cannot listen on " + listen + ": " + ec.message());
  auto local = impl->acceptor.local_endpoint();
  impl->address = local.address().to_string() + ":" + std::to_string(local.port());
  impl->Accept();
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->io.run(); });
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

HttpServer::~HttpServer() {
  impl_->io.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

const std::string& HttpServer::address() const { return impl_->address; }

}  // namespace cairn::api
