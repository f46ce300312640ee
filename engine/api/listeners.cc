#include "api/listeners.h"

#include <utility>

namespace cairn::api {

Result<Listeners> StartListeners(const HttpConfig& config, std::vector<Route> routes,
                                 const std::string& data_dir) {
  if (config.public_listen == config.admin_listen && !config.admin_listen.ends_with(":0")) {
    return InvalidArgument("http.public_listen and http.admin_listen are both " +
                           config.public_listen + ": give them different addresses");
  }
  Listeners out;
  if (!config.admin_tokens_file.empty()) {
    auto tokens = TokenStore::Open(config.admin_tokens_file);
    if (!tokens.ok()) return tokens.status();
    out.tokens = std::move(tokens).value();
  }
  const std::string audit_path =
      config.audit_log.empty() ? data_dir + "/audit.log" : config.audit_log;
  auto audit = AuditLog::Open(audit_path);
  if (!audit.ok()) return audit.status();
  out.audit = std::move(audit).value();

  std::vector<Route> public_routes, admin_routes;
  for (auto& r : routes) {
    (r.exposure == Exposure::kPublic ? public_routes : admin_routes).push_back(std::move(r));
  }
  if (config.metrics_public) SetAccess(admin_routes, "GET", "/metrics", Access::kOpen);

  ServerOptions admin;
  admin.listen = config.admin_listen;
  admin.name = "admin";
  admin.tls = config.admin_tls.enabled() ? config.admin_tls : config.public_tls;
  admin.tokens = out.tokens;
  admin.audit = out.audit;
  auto admin_server = HttpServer::Start(std::move(admin), std::move(admin_routes));
  if (!admin_server.ok()) return admin_server.status();
  out.admin_server = std::move(admin_server).value();

  ServerOptions pub;
  pub.listen = config.public_listen;
  pub.name = "public";
  pub.tls = config.public_tls;
  auto public_server = HttpServer::Start(std::move(pub), std::move(public_routes));
  if (!public_server.ok()) return public_server.status();
  out.public_server = std::move(public_server).value();
  return out;
}

}  // namespace cairn::api
