// A small HTTP/1.1 server (Boost.Beast on Asio) that routes requests to
// handlers. Keep-alive, bounded request size, JSON errors.
//
// Handlers run on the server's own thread; they must be thread-safe with
// respect to the rest of the engine (the state store's reads are).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cairn/status.h"

namespace cairn::api {

struct HttpRequest {
  std::string method;                                      // "GET", "POST", ...
  std::string path;                                        // percent-decoded path, no query
  std::vector<std::string> segments;                       // path split on '/', decoded
  std::vector<std::pair<std::string, std::string>> query;  // decoded
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-case, in order
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

struct Route {
  std::string method;
  // Path pattern split on '/': literal segments, or "*" for any one segment.
  std::vector<std::string> pattern;
  Handler handler;
};

class HttpServer {
 public:
  // Binds `listen` ("HOST:PORT", port 0 = any free port) and serves `routes`.
  static Result<std::unique_ptr<HttpServer>> Start(const std::string& listen,
                                                   std::vector<Route> routes);
  ~HttpServer();  // stops accepting and joins the thread
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // "127.0.0.1:PORT" actually bound.
  const std::string& address() const;

 private:
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cairn::api
