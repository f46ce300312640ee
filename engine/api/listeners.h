// The engine's two HTTP listeners (docs/api.md, docs/configuration.md):
//   public  tracking links and provider callbacks (Exposure::kPublic routes);
//           no authentication, meant to face the internet (through a proxy).
//   admin   everything else, bearer tokens from `admin_tokens_file`, or
//           loopback only when there is none (protected mode); mutating
//           calls go to the audit log.
// Each may have TLS from cert/key files.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "api/http_server.h"
#include "cairn/status.h"

namespace cairn::api {

struct HttpConfig {
  std::string admin_listen = "127.0.0.1:8080";   // http.admin_listen (alias http.listen)
  std::string public_listen = "127.0.0.1:8081";  // http.public_listen
  TlsFiles public_tls;                           // http.tls.{cert_file,key_file}
  TlsFiles admin_tls;             // http.admin_tls.*; unset = the same files as http.tls
  std::string admin_tokens_file;  // http.admin_tokens_file / --admin-tokens; "" = protected mode
  std::string audit_log;          // http.audit_log; "" = <storage.data_dir>/audit.log
  bool metrics_public = false;    // http.metrics_public: GET /metrics without a token
};

struct Listeners {
  std::shared_ptr<TokenStore> tokens;  // null in protected mode
  std::shared_ptr<AuditLog> audit;
  std::unique_ptr<HttpServer> public_server;
  std::unique_ptr<HttpServer> admin_server;
};

// Splits `routes` by exposure and starts both listeners. Fails (nothing left
// running) on a token file that does not load, an audit log that cannot be
// opened, TLS files that do not load, protected mode on a non-loopback admin
// address, or both listeners on the same address.
Result<Listeners> StartListeners(const HttpConfig& config, std::vector<Route> routes,
                                 const std::string& data_dir);

}  // namespace cairn::api
