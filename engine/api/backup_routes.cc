#include "api/backup_routes.h"

#include <spdlog/spdlog.h>

#include <memory>

#include "backup/backup.h"
#include "cairn/clock.h"

namespace cairn::api {

std::vector<Route> BackupRoutes(state::StateStore* store, std::string backup_dir) {
  std::shared_ptr<backup::BackupMaker> maker;
  if (store != nullptr && !backup_dir.empty()) {
    maker = std::make_shared<backup::BackupMaker>(store, std::move(backup_dir));
  }
  std::vector<Route> routes;
  routes.push_back({"POST", {"v1", "admin", "backup"}, [maker](const HttpRequest& req) {
                      if (!maker) {
                        return HttpResponse::Error(503, "backup_unavailable",
                                                   "no backup directory configured");
                      }
                      auto m = maker->Create(SystemClock::Instance().NowMs());
                      if (!m.ok()) {
                        if (m.status().code() == StatusCode::kAlreadyExists) {
                          return HttpResponse::Error(409, "backup_running", m.status().message());
                        }
                        spdlog::error("backup failed: {}", m.status().ToString());
                        return HttpResponse::Error(500, "backup_failed", m.status().message());
                      }
                      spdlog::info("backup {} by {}: {} bytes, sequence {}", m->path, req.caller,
                                   m->bytes, m->sequence);
                      return HttpResponse::Json(201, m->ToJson().dump());
                    }});
  return routes;
}

}  // namespace cairn::api
