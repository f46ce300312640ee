#include "api/backup_routes.h"

#include <spdlog/spdlog.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "backup/backup.h"
#include "cairn/clock.h"

namespace cairn::api {

std::vector<Route> BackupRoutes(state::StateStore* store, std::string backup_dir,
                                std::chrono::milliseconds wait) {
  std::shared_ptr<backup::BackupMaker> maker;
  if (store != nullptr && !backup_dir.empty()) {
    maker = std::make_shared<backup::BackupMaker>(store, std::move(backup_dir));
  }
  std::vector<Route> routes;
  routes.push_back(
      {"POST", {"v1", "admin", "backup"}, [maker, wait](const HttpRequest& req) {
         if (!maker) {
           return HttpResponse::Error(503, "backup_unavailable", "no backup directory configured");
         }
         auto started = maker->Start(SystemClock::Instance().NowMs());
         if (!started.ok()) {
           if (started.status().code() == StatusCode::kAlreadyExists) {
             return HttpResponse::Error(409, "backup_running", started.status().message());
           }
           spdlog::error("backup failed: {}", started.status().ToString());
           return HttpResponse::Error(500, "backup_failed", started.status().message());
         }
         spdlog::info("backup {} started by {}", started->path, req.caller);
         auto done = maker->Wait(wait);
         if (!done) {
           const nlohmann::json running = {
               {"status", "running"}, {"name", started->name}, {"path", started->path}};
           return HttpResponse::Json(202, running.dump());
         }
         if (!done->ok()) {
           spdlog::error("backup failed: {}", done->status().ToString());
           return HttpResponse::Error(500, "backup_failed", done->status().message());
         }
         spdlog::info("backup {}: {} bytes, sequence {}", (*done)->path, (*done)->bytes,
                      (*done)->sequence);
         return HttpResponse::Json(201, (*done)->ToJson().dump());
       }});
  return routes;
}

}  // namespace cairn::api
