#include "app/backup_command.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "app/config.h"
#include "backup/backup.h"
#include "cairn/clock.h"
#include "cairn/time.h"
#include "common/http.h"

namespace cairn::app {

int BackupCommand(const BackupCommandOptions& options, std::ostream& out, std::ostream& err) {
  connectors::HttpOptions http;
  http.timeout_ms = 600'000;  // a checkpoint flushes and links files: seconds, rarely more
  connectors::HttpClient client(http);
  connectors::HttpRequest req;
  req.method = "POST";
  std::string api = options.api;
  while (!api.empty() && api.back() == '/') api.pop_back();
  req.url = api + "/v1/admin/backup";
  if (!options.token_file.empty()) {
    std::ifstream in(options.token_file);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string token = ss.str();
    while (!token.empty() &&
           (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) {
      token.pop_back();
    }
    if (!in || token.empty() || !connectors::IsHeaderSafe(token)) {
      err << "cannot read a token from " << options.token_file << "\n";
      return 2;
    }
    req.headers.emplace_back("Authorization", "Bearer " + token);
  }
  const auto resp = client.Perform(req);
  if (resp.curl_code != CURLE_OK) {
    err << "cannot reach the engine at " << api << ": " << resp.error << "\n";
    return 2;
  }
  const auto j = nlohmann::json::parse(resp.body, nullptr, false);
  if (resp.status == 202 && j.is_object()) {
    out << j.value("path", "") << "\n";
    err << "backup " << j.value("name", "") << " is still running: its manifest.json appears "
        << "when it is done\n";
    return 3;
  }
  if (resp.status != 201 || !j.is_object()) {
    err << "backup: " << connectors::BodyErrorMessage(resp.body) << " (HTTP " << resp.status
        << ")\n";
    return 1;
  }
  out << j.value("path", "") << "\n";
  err << "backup " << j.value("name", "") << ": created " << j.value("created_at", "") << ", "
      << j.value("bytes", uint64_t{0}) << " bytes, " << j.value("tombstones", uint64_t{0})
      << " erasure tombstones\n";
  return 0;
}

int RestoreCommand(const RestoreCommandOptions& options, std::ostream& out, std::ostream& err) {
  backup::RestoreOptions r;
  r.backup = options.backup;
  r.data = options.data;
  r.replace = options.replace;
  r.erasure_files = options.erasures;
  if (!options.config_file.empty()) {
    Config config;
    if (auto s = LoadConfigFile(options.config_file, config); !s.ok()) {
      err << s.message() << "\n";
      return 1;
    }
    r.key_file = config.tracking_key_file;
    r.events_topic = config.engine.topics.events;
  }
  r.now = SystemClock::Instance().NowMs();
  auto summary = backup::Restore(r);
  if (!summary.ok()) {
    err << "restore refused: " << summary.status().message() << "\n";
    return 1;
  }
  out << "restored " << std::filesystem::absolute(options.backup).lexically_normal().string()
      << " into " << std::filesystem::absolute(options.data).lexically_normal().string() << "\n";
  out << "  backup taken:       "
      << (summary->backup_at_ms > 0 ? FormatTimestamp(summary->backup_at_ms)
                                    : std::string("unknown (no manifest)"))
      << "\n";
  if (!summary->kept_aside.empty()) out << "  old data kept as:   " << summary->kept_aside << "\n";
  out << "  tombstones read:    " << summary->tombstones_read << " (" << summary->newer_than_backup
      << " newer than the backup)\n";
  out << "  tombstones written: " << summary->tombstones_written << "\n";
  out << "  customers erased again: " << summary->customers_erased << "\n";
  return 0;
}

int ErasuresExportCommand(const std::string& data, const std::string& out_file, std::ostream& out,
                          std::ostream& err) {
  std::string dir = data;
  if (std::filesystem::exists(std::filesystem::path(data) / backup::kDbDir / "CURRENT")) {
    dir = (std::filesystem::path(data) / backup::kDbDir).string();  // a backup directory
  }
  auto list = backup::ReadTombstonesAt(dir);
  if (!list.ok()) {
    err << "erasures export: " << list.status().message() << "\n";
    return 1;
  }
  if (auto s = backup::WriteTombstoneFile(out_file, *list); !s.ok()) {
    err << "erasures export: " << s.message() << "\n";
    return 1;
  }
  out << list->size() << " tombstones written to " << out_file << "\n";
  return 0;
}

}  // namespace cairn::app
