// A small HTTP/1.1 server (Boost.Beast on Asio) that routes requests to
// handlers. Keep-alive, bounded request size, JSON errors, optional TLS,
// bearer-token authorization and an audit log (docs/api.md).
//
// Authorization, per route:
//   - Exposure::kPublic routes (tracking links, provider callbacks) and
//     Access::kOpen routes (probes, static assets) need nothing;
//   - every other route ("scoped") needs a bearer token: scope `read` for
//     GET/HEAD, `admin` for any other method. No or unknown token: 401 with
//     WWW-Authenticate: Bearer; too small a scope: 403. Neither says more.
//   - Without a TokenStore (protected mode) scoped routes serve loopback
//     clients only (403 to others), and Start refuses a non-loopback listen
//     address if any scoped route would be served.
// An unknown path is treated as a scoped GET: no 404 before authorization.
// With an AuditLog every non-GET/HEAD request to a non-public route is
// logged, allowed or not. A handler that throws answers 500 "internal".
//
// Handlers run on the server's own thread; they must be thread-safe with
// respect to the rest of the engine (the state store's reads are).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "api/admin_tokens.h"
#include "api/audit_log.h"
#include "cairn/status.h"

namespace cairn::api {

struct HttpRequest {
  std::string method;                                      // "GET", "POST", ...
  std::string path;                                        // percent-decoded path, no query
  std::vector<std::string> segments;                       // path split on '/', decoded
  std::vector<std::pair<std::string, std::string>> query;  // decoded
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-case, in order
  std::string remote_addr;                                   // the client's IP address
  std::string caller;  // the token's name once authorized ("loopback" in protected mode)
  // The first query parameter named `name`, or `fallback`.
  std::string Query(const std::string& name, const std::string& fallback = "") const;
  // The first header named `name` (lower-case), or "".
  std::string Header(const std::string& name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  // Extra headers (Location, Retry-After...); one named like a default
  // (Content-Type, Cache-Control: no-store) replaces it.
  std::vector<std::pair<std::string, std::string>> headers;
  static HttpResponse Json(int status, std::string body);
  // {"error":{"code":"...","message":"..."}}
  static HttpResponse Error(int status, std::string_view code, std::string_view message);
};

using Handler = std::function<HttpResponse(const HttpRequest&)>;

// Which listener serves a route (api/listeners.h splits them).
enum class Exposure : uint8_t {
  kAdmin,   // the admin listener: the API, metrics, probes, the dashboard
  kPublic,  // the public listener: what recipients and providers reach
};

enum class Access : uint8_t {
  kScoped,  // a token (or loopback in protected mode): read for GET/HEAD, admin otherwise
  kOpen,    // no token: /healthz, /readyz, static assets holding no data
};

struct Route {
  std::string method;
  // Path pattern split on '/': literal segments, or "*" for any one segment.
  std::vector<std::string> pattern;
  Handler handler;
  Exposure exposure = Exposure::kAdmin;
  Access access = Access::kScoped;
};

// The route's path as documented: "/v1/customers/{}" for a "*" segment.
std::string RoutePath(const Route& route);

// Sets the access of the routes matching `method` and `path` (a RoutePath);
// e.g. GET /metrics when http.metrics_public is set.
void SetAccess(std::vector<Route>& routes, std::string_view method, std::string_view path,
               Access access);

struct TlsFiles {
  std::string cert_file;  // PEM certificate chain
  std::string key_file;   // PEM private key
  bool enabled() const { return !cert_file.empty() || !key_file.empty(); }
};

struct ServerOptions {
  std::string listen;         // "HOST:PORT" (an IP address), port 0 = any free port
  std::string name = "http";  // in logs and errors: "public", "admin"
  TlsFiles tls;               // both files, or neither (plain HTTP)
  // How often the TLS files are checked for a change (a renewed certificate
  // is served to new connections without a restart); 0 = never.
  int tls_reload_ms = 10000;
  std::shared_ptr<TokenStore> tokens;  // null = protected mode (see above)
  std::shared_ptr<AuditLog> audit;     // null = no audit log
};

class HttpServer {
 public:
  // Binds `options.listen` and serves `routes`. Fails on an unreadable
  // certificate or key, a busy port, or protected mode on a non-loopback
  // address (FailedPrecondition).
  static Result<std::unique_ptr<HttpServer>> Start(ServerOptions options,
                                                   std::vector<Route> routes);
  // Plain HTTP, protected mode, no audit log (tests, demo peers).
  static Result<std::unique_ptr<HttpServer>> Start(const std::string& listen,
                                                   std::vector<Route> routes);
  ~HttpServer();  // stops accepting and joins the thread
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // "127.0.0.1:PORT" actually bound.
  const std::string& address() const;
  // "http://ADDRESS" or "https://ADDRESS".
  std::string url() const;

 private:
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cairn::api
