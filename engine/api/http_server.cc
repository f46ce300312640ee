// GCC 12 reports -Wnull-dereference inside Asio once inlined (a false
// positive at the Boost line, with the SSL stream); silenced before any header.
#pragma GCC diagnostic ignored "-Wnull-dereference"

#include "api/http_server.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>
#include <cctype>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "cairn/host_port.h"

namespace cairn::api {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

namespace {

constexpr size_t kMaxBodyBytes = 8 << 20;
constexpr auto kIdleTimeout = std::chrono::seconds(60);
constexpr auto kHandshakeTimeout = std::chrono::seconds(10);

bool EqualsNoCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

bool IsLoopback(const asio::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).is_loopback();
  }
  return a.is_loopback();
}

bool IsLoopback(const std::string& addr) {
  beast::error_code ec;
  auto a = asio::ip::make_address(addr, ec);
  return !ec && IsLoopback(a);
}

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

namespace {

// A TLS server context from the two PEM files; the error names the file.
Result<std::shared_ptr<ssl::context>> TlsContext(const std::string& name, const TlsFiles& files) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                   ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                   ssl::context::single_dh_use);
  beast::error_code ec;
  ctx->use_certificate_chain_file(files.cert_file, ec);
  if (ec) {
    return InvalidArgument(name + " listener: TLS certificate " + files.cert_file + ": " +
                           ec.message());
  }
  ctx->use_private_key_file(files.key_file, ssl::context::pem, ec);
  if (ec)
    return InvalidArgument(name + " listener: TLS key " + files.key_file + ": " + ec.message());
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
    return InvalidArgument(name + " listener: TLS key " + files.key_file +
                           " does not match the certificate " + files.cert_file);
  }
  return ctx;
}

// What changes when either file is replaced (time, size, inode).
std::string FilesStamp(const TlsFiles& files) {
  std::string out;
  for (const auto* f : {&files.cert_file, &files.key_file}) {
    struct stat st {};
    if (::stat(f->c_str(), &st) != 0) return "";
    out += std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec) + "/" +
           std::to_string(st.st_size) + "/" + std::to_string(st.st_ino) + ";";
  }
  return out;
}

}  // namespace

struct HttpServer::Impl {
  asio::io_context io;
  tcp::acceptor acceptor{io};
  // null = plain HTTP. Replaced (on the io thread) when the files change;
  // a connection keeps the context it was accepted with.
  std::shared_ptr<ssl::context> tls;
  std::string tls_stamp;
  asio::steady_timer tls_timer{io};
  std::vector<Route> routes;
  ServerOptions options;
  std::string address;
  bool has_scoped = false;  // any route needing a token (else unknown paths are plain 404s)
  std::thread thread;

  const Route* Find(const HttpRequest& req, bool* path_known) const {
    for (const auto& r : routes) {
      if (!Matches(r, req)) continue;
      *path_known = true;
      if (r.method == req.method) return &r;
    }
    return nullptr;
  }

  // nullopt: allowed (req.caller set); else the 401/403 to send.
  std::optional<HttpResponse> Authorize(HttpRequest& req, const Route* route) const {
    if (route != nullptr &&
        (route->exposure == Exposure::kPublic || route->access == Access::kOpen)) {
      return std::nullopt;
    }
    if (route == nullptr && !has_scoped) return std::nullopt;
    const bool reads = req.method == "GET" || req.method == "HEAD";
    if (!options.tokens) {
      if (IsLoopback(req.remote_addr)) {
        req.caller = "loopback";
        return std::nullopt;
      }
      return HttpResponse::Error(403, "forbidden",
                                 "protected mode: this API answers loopback clients only "
                                 "(configure --admin-tokens)");
    }
    std::string auth = req.Header("authorization");
    std::string_view token;
    if (auth.size() > 7 && EqualsNoCase(std::string_view(auth).substr(0, 7), "bearer ")) {
      token = std::string_view(auth).substr(7);
      while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
    }
    auto caller = token.empty() ? std::nullopt : options.tokens->Lookup(token);
    if (!caller) {
      auto r = HttpResponse::Error(401, "unauthorized", "a valid bearer token is required");
      r.headers.emplace_back("WWW-Authenticate",
                             token.empty() ? "Bearer realm=\"cairn\""
                                           : "Bearer realm=\"cairn\", error=\"invalid_token\"");
      return r;
    }
    req.caller = caller->name;
    if (!reads && caller->scope != Scope::kAdmin) {
      auto r = HttpResponse::Error(403, "forbidden", "this call needs a token with scope admin");
      r.headers.emplace_back(
          "WWW-Authenticate",
          "Bearer realm=\"cairn\", error=\"insufficient_scope\", scope=\"admin\"");
      return r;
    }
    return std::nullopt;
  }

  HttpResponse Dispatch(HttpRequest& req) const {
    bool path_known = false;
    const Route* route = Find(req, &path_known);
    HttpResponse out;
    if (auto denied = Authorize(req, route)) {
      out = std::move(*denied);
    } else if (route != nullptr) {
      try {
        out = route->handler(req);
      } catch (const std::exception& e) {
        spdlog::error("{} {} {}: {}", options.name, req.method, req.path, e.what());
        out = HttpResponse::Error(500, "internal", "internal error");
      } catch (...) {
        spdlog::error("{} {} {}: unknown exception", options.name, req.method, req.path);
        out = HttpResponse::Error(500, "internal", "internal error");
      }
    } else if (path_known) {
      out = HttpResponse::Error(405, "method_not_allowed", "method not allowed");
    } else {
      out = HttpResponse::Error(404, "not_found", "no such endpoint: " + req.path);
    }
    const bool mutating = req.method != "GET" && req.method != "HEAD";
    if (options.audit && mutating && (route == nullptr || route->exposure != Exposure::kPublic)) {
      auto s =
          options.audit->Append({req.caller, req.method, req.path, out.status, req.remote_addr});
      if (!s.ok()) spdlog::error("{}", s.ToString());
    }
    return out;
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
      beast::error_code ignored;
      auto remote = socket.remote_endpoint(ignored);
      std::string remote_addr = ignored ? "" : remote.address().to_string();
      if (tls) {
        auto stream = std::make_shared<TlsStream>(std::move(socket), *tls);
        beast::get_lowest_layer(*stream).expires_after(kHandshakeTimeout);
        stream->async_handshake(ssl::stream_base::server,
                                [this, stream, remote_addr, ctx = tls](beast::error_code hec) {
                                  if (hec) return;  // not TLS, or a bad client: drop it
                                  Session(stream, remote_addr);
                                });
      } else {
        Session(std::make_shared<PlainStream>(std::move(socket)), std::move(remote_addr));
      }
      Accept();
    });
  }

  // Every options.tls_reload_ms: when the certificate or key file changed,
  // load both; new connections get the new pair. A pair that does not load
  // (a rotation half done, a key that does not match) keeps the old one and
  // is tried again on the next tick.
  void WatchTls() {
    if (!tls || options.tls_reload_ms <= 0) return;
    tls_timer.expires_after(std::chrono::milliseconds(options.tls_reload_ms));
    tls_timer.async_wait([this](beast::error_code ec) {
      if (ec) return;
      const std::string stamp = FilesStamp(options.tls);
      if (!stamp.empty() && stamp != tls_stamp) {
        auto next = TlsContext(options.name, options.tls);
        if (next.ok()) {
          tls = std::move(next).value();
          tls_stamp = stamp;
          spdlog::info("{} listener: TLS certificate reloaded from {}", options.name,
                       options.tls.cert_file);
        } else {
          spdlog::warn("{} (keeps the certificate it has)", next.status().message());
        }
      }
      WatchTls();
    });
  }

  template <class Stream>
  void Session(std::shared_ptr<Stream> stream, std::string remote_addr) {
    auto buffer = std::make_shared<beast::flat_buffer>();
    auto parser = std::make_shared<http::request_parser<http::string_body>>();
    parser->body_limit(kMaxBodyBytes);
    beast::get_lowest_layer(*stream).expires_after(kIdleTimeout);
    http::async_read(
        *stream, *buffer, *parser,
        [this, stream, buffer, parser, remote_addr](beast::error_code ec, size_t) {
          if (ec) {
            if (ec != http::error::end_of_stream) {
              // Answer malformed requests; just close on network errors.
              if (ec == http::error::body_limit) {
                Reply(stream, remote_addr,
                      HttpResponse::Error(413, "too_large", "request body too large"), false, 11);
              } else if (ec.category() ==
                         http::make_error_code(http::error::bad_target).category()) {
                Reply(stream, remote_addr, HttpResponse::Error(400, "bad_request", ec.message()),
                      false, 11);
              }
            }
            return;
          }
          auto& in = parser->get();
          HttpRequest req = ToRequest(in);
          req.remote_addr = remote_addr;
          HttpResponse out = Dispatch(req);
          Reply(stream, remote_addr, std::move(out), in.keep_alive(), in.version());
        });
  }

  template <class Stream>
  void Reply(std::shared_ptr<Stream> stream, std::string remote_addr, HttpResponse out,
             bool keep_alive, unsigned version) {
    auto res = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(out.status), version);
    res->set(http::field::server, "cairn");
    res->set(http::field::content_type, out.content_type);
    res->set(http::field::cache_control, "no-store");
    for (const auto& [name, value] : out.headers) res->set(name, value);
    res->keep_alive(keep_alive);
    res->body() = std::move(out.body);
    res->prepare_payload();
    http::async_write(*stream, *res,
                      [this, stream, res, remote_addr](beast::error_code ec, size_t) {
                        if (ec || !res->keep_alive()) {
                          Close(stream);
                          return;
                        }
                        Session(stream, remote_addr);
                      });
  }

  static void Close(const std::shared_ptr<PlainStream>& stream) {
    beast::error_code ignored;
    stream->socket().shutdown(tcp::socket::shutdown_send, ignored);
  }
  static void Close(const std::shared_ptr<TlsStream>& stream) {
    beast::get_lowest_layer(*stream).expires_after(kHandshakeTimeout);
    stream->async_shutdown([stream](beast::error_code) {});
  }
};

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<HttpServer>> HttpServer::Start(const std::string& listen,
                                                      std::vector<Route> routes) {
  ServerOptions options;
  options.listen = listen;
  return Start(std::move(options), std::move(routes));
}

Result<std::unique_ptr<HttpServer>> HttpServer::Start(ServerOptions options,
                                                      std::vector<Route> routes) {
  const std::string listen = options.listen;
  auto hp = SplitHostPort(listen);
  if (!hp.ok()) return hp.status();
  beast::error_code ec;
  auto ip = asio::ip::make_address(hp->first, ec);
  if (ec) {
    return InvalidArgument(options.name + " listener: address '" + listen +
                           "' must be an IP address and port: " + ec.message());
  }
  if (!options.tokens && !IsLoopback(ip)) {
    for (const auto& r : routes) {
      if (r.exposure == Exposure::kPublic || r.access == Access::kOpen) continue;
      return FailedPrecondition(
          options.name + " listener: refusing to serve the admin API on " + listen +
          " without admin tokens (protected mode allows loopback addresses only); give "
          "--admin-tokens FILE (http.admin_tokens_file) or listen on 127.0.0.1");
    }
  }
  auto impl = std::make_unique<Impl>();
  if (options.tls.enabled()) {
    if (options.tls.cert_file.empty() || options.tls.key_file.empty()) {
      return InvalidArgument(options.name + " listener: TLS needs both cert_file and key_file");
    }
    impl->tls_stamp = FilesStamp(options.tls);
    auto tls = TlsContext(options.name, options.tls);
    if (!tls.ok()) return tls.status();
    impl->tls = std::move(tls).value();
  }
  for (const auto& r : routes) {
    if (r.exposure != Exposure::kPublic && r.access != Access::kOpen) impl->has_scoped = true;
  }
  impl->routes = std::move(routes);
  impl->options = std::move(options);
  tcp::endpoint ep(ip, hp->second);
  impl->acceptor.open(ep.protocol(), ec);
  if (!ec) impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(ep, ec);
  if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Unavailable(impl->options.name + ": cannot listen on " + listen + ": " + ec.message());
  }
  auto local = impl->acceptor.local_endpoint();
  impl->address = local.address().to_string() + ":" + std::to_string(local.port());
  impl->Accept();
  impl->WatchTls();
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->io.run(); });
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

HttpServer::~HttpServer() {
  impl_->io.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

const std::string& HttpServer::address() const { return impl_->address; }

std::string HttpServer::url() const {
  return (impl_->tls ? "https://" : "http://") + impl_->address;
}

std::string RoutePath(const Route& route) {
  std::string path;
  for (const auto& seg : route.pattern) path += "/" + (seg == "*" ? std::string("{}") : seg);
  return path.empty() ? "/" : path;
}

void SetAccess(std::vector<Route>& routes, std::string_view method, std::string_view path,
               Access access) {
  for (auto& r : routes) {
    if (r.method == method && RoutePath(r) == path) r.access = access;
  }
}

}  // namespace cairn::api
