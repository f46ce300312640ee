#include "api/journey_routes.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <thread>

#include "cairn/big_endian.h"
#include "cairn/time.h"
#include "flow/overrides.h"
#include "journey/loader.h"
#include "journey/yaml_reader.h"

namespace cairn::api {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr std::string_view kVersionPrefix = "jv/";  // flow/library.cc owns the writes

TimestampMs WallNow(const JourneyRoutesContext& ctx) {
  if (ctx.now) return ctx.now();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

json TriggerJson(const journey::Trigger& t) {
  json out;
  switch (t.kind) {
    case journey::TriggerKind::kEvent:
      out = {{"kind", "event"}, {"event", t.event}};
      break;
    case journey::TriggerKind::kTraitChanged:
      out = {{"kind", "trait_changed"}, {"trait", t.trait}};
      break;
    case journey::TriggerKind::kAbsence:
      out = {{"kind", "absence"}, {"event", t.event}, {"for", FormatDurationMs(t.for_ms)}};
      break;
    case journey::TriggerKind::kDate:
      out = {{"kind", "date"}, {"trait", t.trait}, {"yearly", t.yearly}};
      if (t.offset_ms != 0) out["offset"] = FormatDurationMs(t.offset_ms);
      break;
    case journey::TriggerKind::kSchedule:
      out = {{"kind", "schedule"}};
      if (t.at) out["at"] = FormatTimestamp(*t.at);
      if (!t.cron.empty()) out["cron"] = t.cron;
      if (!t.timezone.empty()) out["timezone"] = t.timezone;
      break;
  }
  if (!t.where.empty()) out["where"] = t.where.source;
  return out;
}

std::string StepName(const journey::Journey& j, int index) {
  if (index < 0 || index >= static_cast<int>(j.steps.size())) return "";
  return j.steps[static_cast<size_t>(index)].id;
}

json Target(const journey::Journey& j, int index) {
  return index == journey::kNoStep ? json(nullptr) : json(StepName(j, index));
}

json JsonOrText(const std::string& text) {
  auto v = json::parse(text, nullptr, false);
  return v.is_discarded() ? json(text) : v;
}

std::string StatusOf(const journey::Journey& j) { return j.paused ? "paused" : "live"; }

// The versions of `name` stored in RocksDB, ascending.
std::vector<std::pair<uint32_t, std::string>> StoredVersions(state::StateStore& store,
                                                             const std::string& name) {
  std::string prefix(kVersionPrefix);
  prefix += name;
  prefix.push_back('/');
  std::vector<std::pair<uint32_t, std::string>> out;
  std::unique_ptr<rocksdb::Iterator> it(
      store.db()->NewIterator(rocksdb::ReadOptions(), store.meta_cf()));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (it->key().size() != prefix.size() + 4) continue;  // another journey's longer name
    out.emplace_back(GetU32BE(it->key().data() + prefix.size()), it->value().ToString());
  }
  return out;
}

bool ParseUint(const std::string& text, uint32_t& out) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size() && !text.empty();
}

HttpResponse NotFound(const std::string& id) {
  return HttpResponse::Error(404, "journey_not_found", "no journey named '" + id + "'");
}

// Writes `text` to `path` through a temporary file in the same directory and
// a rename, with fsyncs, so the watcher reads either the old or the new file.
// On failure returns errno.
int WriteAtomically(const fs::path& path, const std::string& text) {
  const fs::path tmp = path.parent_path() / ("." + path.filename().string() + ".tmp");
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return errno;
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return e;
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    return e;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    return e;
  }
  const int dfd = ::open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
  return 0;
}

// Polls the catalog until `done(catalog)` holds, at most `wait_ms`.
bool WaitFor(const JourneyRoutesContext& ctx, int wait_ms,
             const std::function<bool(const flow::Catalog&)>& done) {
  if (!ctx.catalog) return false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  for (int i = 0; i < 10000; ++i) {
    auto c = ctx.catalog();
    if (c != nullptr && done(*c)) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

int ReloadWaitMs(const JourneyRoutesContext& ctx) {
  return std::min(kDeployWaitMs, 3 * ctx.reload_ms + 1000);
}

HttpResponse Deploy(const JourneyRoutesContext& ctx, std::mutex& mu, const HttpRequest& req) {
  const std::string& id = req.segments[2];
  if (!journey::internal::IsName(id, false)) {
    return HttpResponse::Error(400, "bad_parameter",
                               "a journey id is [a-z][a-z0-9-]*, at most 64 characters");
  }
  if (ctx.journeys_dir.empty()) {
    return HttpResponse::Error(409, "not_configured",
                               "this engine has no journeys directory to deploy to");
  }
  if (req.body.size() > kMaxJourneyBytes) {
    return HttpResponse::Error(413, "too_large", "a journey file is at most 1 MiB");
  }
  const std::string file_name = id + ".yaml";
  auto loaded = journey::LoadJourney(req.body, file_name);
  if (!loaded.journey) {
    json out = ValidateJourneyJson(req.body, file_name);
    out["error"] = {{"code", "invalid_journey"},
                    {"message", "the journey has problems; nothing was deployed"}};
    return HttpResponse::Json(422, out.dump());
  }
  const journey::Journey& next = *loaded.journey;
  if (next.name != id) {
    return HttpResponse::Error(422, "name_mismatch",
                               "the file defines journey '" + next.name + "', not '" + id + "'");
  }
  std::lock_guard lock(mu);  // one deploy at a time
  auto catalog = ctx.catalog ? ctx.catalog() : nullptr;
  const journey::Journey* live = catalog ? catalog->Current(id) : nullptr;
  const fs::path dir(ctx.journeys_dir);
  fs::path target = dir / file_name;
  if (live != nullptr) {
    if (live->source == req.body) {
      json out = {{"journey", id},
                  {"version", live->version},
                  {"file", live->file},
                  {"status", StatusOf(*live)},
                  {"changed", false}};
      return HttpResponse::Json(200, out.dump());
    }
    if (next.version <= live->version) {
      return HttpResponse::Error(409, "version_conflict",
                                 "version " + std::to_string(next.version) +
                                     " is not above the live version " +
                                     std::to_string(live->version) +
                                     "; set `version: " + std::to_string(live->version + 1) + "`");
    }
    std::error_code ec;
    if (fs::equivalent(fs::path(live->file).parent_path(), dir, ec)) target = live->file;
  }
  if (catalog != nullptr) {
    for (const auto& [name, j] : catalog->current()) {
      std::error_code ec;
      if (name != id && fs::equivalent(fs::path(j->file), target, ec)) {
        return HttpResponse::Error(409, "file_conflict",
                                   target.string() + " holds journey '" + name + "'");
      }
    }
  }
  if (ctx.store != nullptr) {
    for (const auto& [v, source] : StoredVersions(*ctx.store, id)) {
      if (v == next.version && source != req.body) {
        return HttpResponse::Error(409, "version_conflict",
                                   "version " + std::to_string(v) +
                                       " was deployed before with another text; bump `version`");
      }
    }
  }
  if (::access(dir.c_str(), W_OK) != 0 && (errno == EROFS || errno == EACCES || errno == EPERM)) {
    return HttpResponse::Error(409, "read_only",
                               ctx.journeys_dir +
                                   " is read-only (a ConfigMap mount?): change the journey in the "
                                   "ConfigMap, hot reload deploys it from there");
  }
  if (const int e = WriteAtomically(target, req.body); e != 0) {
    if (e == EROFS || e == EACCES || e == EPERM) {
      return HttpResponse::Error(409, "read_only",
                                 ctx.journeys_dir +
                                     " is read-only (a ConfigMap mount?): change the journey in "
                                     "the ConfigMap, hot reload deploys it from there");
    }
    return HttpResponse::Error(500, "storage",
                               "could not write " + target.string() + ": " + std::strerror(e));
  }
  json out = {{"journey", id}, {"version", next.version}, {"file", target.string()}};
  const uint32_t want = next.version;
  if (ctx.reload_ms > 0 && WaitFor(ctx, ReloadWaitMs(ctx), [&](const flow::Catalog& c) {
        const auto* j = c.Current(id);
        return j != nullptr && j->version == want;
      })) {
    out["status"] = StatusOf(*ctx.catalog()->Current(id));
    out["changed"] = true;
    return HttpResponse::Json(200, out.dump());
  }
  out["status"] = "written";
  out["poll"] = "/v1/journeys/" + id;
  out["message"] = ctx.reload_ms > 0
                       ? "written; hot reload has not taken it yet: poll GET /v1/journeys/" + id +
                             " until its version is " + std::to_string(want)
                       : "written; hot reload is off (journeys_reload_ms = 0): the engine runs it "
                         "after a restart";
  HttpResponse r = HttpResponse::Json(202, out.dump());
  r.headers.emplace_back("Location", "/v1/journeys/" + id);
  return r;
}

HttpResponse PauseOrResume(const JourneyRoutesContext& ctx, const HttpRequest& req) {
  const std::string& segment = req.segments[2];
  const auto colon = segment.rfind(':');
  const std::string verb = colon == std::string::npos ? "" : segment.substr(colon + 1);
  if (verb != "pause" && verb != "resume") {
    return HttpResponse::Error(404, "not_found",
                               "POST /v1/journeys/{id}:pause or :resume; got " + req.path);
  }
  const std::string id = segment.substr(0, colon);
  auto catalog = ctx.catalog ? ctx.catalog() : nullptr;
  if (catalog == nullptr || catalog->Current(id) == nullptr) return NotFound(id);
  if (ctx.store == nullptr) {
    return HttpResponse::Error(503, "unavailable", "no state store for overrides");
  }
  flow::PauseOverride o{verb == "pause", WallNow(ctx), "api"};
  if (auto s = flow::SetPauseOverride(*ctx.store, id, o); !s.ok()) {
    return HttpResponse::Error(503, "storage", s.message());
  }
  json out = {{"journey", id},
              {"override", {{"paused", o.paused}, {"at", FormatTimestamp(o.at_ms)}, {"by", o.by}}}};
  const bool applied =
      ctx.reload_ms > 0 && WaitFor(ctx, ReloadWaitMs(ctx), [&](const flow::Catalog& c) {
        const auto* j = c.Current(id);
        return j != nullptr && j->paused == o.paused;
      });
  out["status"] = applied ? (o.paused ? "paused" : "live") : "pending";
  if (applied) return HttpResponse::Json(200, out.dump());
  out["poll"] = "/v1/journeys/" + id;
  out["message"] = ctx.reload_ms > 0 ? "stored; the next reload applies it"
                                     : "stored; hot reload is off: applied at the next restart";
  return HttpResponse::Json(202, out.dump());
}

}  // namespace

json JourneySummaryJson(const journey::Journey& j) {
  json step_ids = json::array();
  for (const auto& st : j.steps) step_ids.push_back(st.id);
  return {{"id", j.name},
          {"name", j.name},
          {"paused", j.paused},
          {"steps", std::move(step_ids)},
          {"version", j.version},
          {"status", StatusOf(j)},
          {"description", j.description},
          {"owner", j.owner},
          {"priority", j.priority},
          {"trigger", TriggerJson(j.trigger)},
          {"step_count", j.steps.size()},
          {"file", j.file}};
}

json JourneyModelJson(const journey::Journey& j) {
  json steps = json::array();
  json edges = json::array();
  auto edge = [&](const std::string& from, int to, const std::string& label) {
    edges.push_back({{"from", from}, {"to", Target(j, to)}, {"label", label}});
  };
  for (const auto& st : j.steps) {
    json s = {{"id", st.id},
              {"kind", journey::StepKindName(st.kind)},
              {"line", st.pos.line},
              {"next", Target(j, st.next)}};
    switch (st.kind) {
      case journey::StepKind::kSend:
        s["channel"] = st.channel;
        s["template"] = st.template_name;
        s["params"] = JsonOrText(st.params_json);
        edge(st.id, st.next, "next");
        break;
      case journey::StepKind::kWait:
        if (st.wait_ms > 0) s["duration"] = FormatDurationMs(st.wait_ms);
        if (!st.until_trait.empty()) s["until_trait"] = st.until_trait;
        edge(st.id, st.next, "next");
        break;
      case journey::StepKind::kWaitFor:
        s["event"] = st.awaited.event;
        if (!st.awaited.where.empty()) s["where"] = st.awaited.where.source;
        s["timeout"] = FormatDurationMs(st.timeout_ms);
        s["on_event"] = Target(j, st.on_event);
        s["on_timeout"] = Target(j, st.on_timeout);
        edge(st.id, st.on_event, "event");
        edge(st.id, st.on_timeout, "timeout");
        break;
      case journey::StepKind::kBranch: {
        json cases = json::array();
        for (const auto& c : st.cases) {
          cases.push_back({{"when", c.when.source}, {"next", Target(j, c.next)}});
          edge(st.id, c.next, c.when.source);
        }
        s["cases"] = std::move(cases);
        edge(st.id, st.next, "else");
        break;
      }
      case journey::StepKind::kSplit: {
        json arms = json::array();
        for (const auto& a : st.arms) {
          arms.push_back({{"name", a.name},
                          {"weight", a.weight},
                          {"holdout", a.holdout},
                          {"next", Target(j, a.next)}});
          edge(st.id, a.next, a.name);
        }
        s["arms"] = std::move(arms);
        break;
      }
      case journey::StepKind::kUpdate: {
        json set = json::object();
        for (const auto& u : st.set_traits) {
          set[u.trait] = u.literal_json.empty() ? json(u.value.source) : JsonOrText(u.literal_json);
        }
        s["set_traits"] = std::move(set);
        s["add_labels"] = st.add_labels;
        s["remove_labels"] = st.remove_labels;
        edge(st.id, st.next, "next");
        break;
      }
      case journey::StepKind::kEmit:
        s["event"] = st.emit_event;
        s["properties"] = JsonOrText(st.emit_properties_json);
        edge(st.id, st.next, "next");
        break;
      case journey::StepKind::kGoto:
        s["goto"] = Target(j, st.goto_step);
        s["max_loops"] = st.max_loops;
        edge(st.id, st.goto_step, "goto");
        edge(st.id, st.next, "after max_loops");
        break;
      case journey::StepKind::kExit:
        if (!st.exit_reason.empty()) s["reason"] = st.exit_reason;
        break;
    }
    steps.push_back(std::move(s));
  }
  json out = JourneySummaryJson(j);
  if (!j.audience.empty()) out["audience"] = j.audience.source;
  if (j.goal) {
    out["goal"] = {{"event", j.goal->match.event}, {"within", FormatDurationMs(j.goal->within_ms)}};
  }
  json exits = json::array();
  for (const auto& e : j.exit_when) exits.push_back(e.event);
  out["exit_when"] = std::move(exits);
  out["steps"] = std::move(steps);
  out["edges"] = std::move(edges);
  return out;
}

json ValidateJourneyJson(std::string_view yaml, const std::string& file) {
  json diagnostics = json::array();
  json out;
  try {
    auto r = journey::LoadJourney(yaml, file);
    for (const auto& d : r.diagnostics) {
      diagnostics.push_back({{"line", d.pos.line},
                             {"col", d.pos.column},
                             {"message", d.message},
                             {"text", d.ToString()}});
    }
    out = {{"ok", r.journey.has_value()}, {"diagnostics", std::move(diagnostics)}};
    if (r.journey) {
      out["journey"] = r.journey->name;
      out["version"] = r.journey->version;
      out["step_count"] = r.journey->steps.size();
    }
  } catch (const std::exception& e) {  // the loader promises not to throw; belt and braces
    diagnostics.push_back({{"line", 0}, {"col", 0}, {"message", e.what()}});
    out = {{"ok", false}, {"diagnostics", std::move(diagnostics)}};
  }
  return out;
}

std::vector<Route> JourneyRoutes(JourneyRoutesContext ctx) {
  auto deploy_mu = std::make_shared<std::mutex>();
  std::vector<Route> routes;
  routes.push_back({"GET", {"v1", "journeys"}, [ctx](const HttpRequest&) {
                      json list = json::array();
                      auto catalog = ctx.catalog ? ctx.catalog() : nullptr;
                      std::map<std::string, flow::PauseOverride, std::less<>> overrides;
                      if (ctx.store != nullptr) overrides = flow::PauseOverrides(*ctx.store);
                      if (catalog) {
                        for (const auto& [name, j] : catalog->current()) {
                          json item = JourneySummaryJson(*j);
                          if (auto o = overrides.find(name); o != overrides.end()) {
                            item["override"] = {{"paused", o->second.paused},
                                                {"at", FormatTimestamp(o->second.at_ms)},
                                                {"by", o->second.by}};
                          }
                          list.push_back(std::move(item));
                        }
                      }
                      return HttpResponse::Json(200, json{{"journeys", std::move(list)}}.dump());
                    }});
  routes.push_back({"GET", {"v1", "journeys", "*"}, [ctx](const HttpRequest& req) {
                      const std::string& id = req.segments[2];
                      auto catalog = ctx.catalog ? ctx.catalog() : nullptr;
                      if (catalog == nullptr) return NotFound(id);
                      const journey::Journey* j = catalog->Current(id);
                      const std::string v = req.Query("version");
                      if (!v.empty()) {
                        uint32_t version = 0;
                        if (!ParseUint(v, version)) {
                          return HttpResponse::Error(400, "bad_parameter",
                                                     "version must be a whole number");
                        }
                        j = catalog->Version(id, version);
                      }
                      if (j == nullptr) return NotFound(id);
                      return HttpResponse::Json(200, JourneyModelJson(*j).dump());
                    }});
  routes.push_back(
      {"GET", {"v1", "journeys", "*", "versions"}, [ctx](const HttpRequest& req) {
         const std::string& id = req.segments[2];
         auto catalog = ctx.catalog ? ctx.catalog() : nullptr;
         const journey::Journey* live = catalog ? catalog->Current(id) : nullptr;
         json versions = json::array();
         if (ctx.store != nullptr) {
           for (const auto& [v, source] : StoredVersions(*ctx.store, id)) {
             versions.push_back(
                 {{"version", v},
                  {"bytes", source.size()},
                  {"live", live != nullptr && live->version == v},
                  {"source", "/v1/journeys/" + id + "/versions/" + std::to_string(v) + "/source"}});
           }
         } else if (live != nullptr) {
           versions.push_back({{"version", live->version},
                               {"bytes", live->source.size()},
                               {"live", true},
                               {"source", "/v1/journeys/" + id + "/versions/" +
                                              std::to_string(live->version) + "/source"}});
         }
         if (versions.empty()) return NotFound(id);
         json out = {{"journey", id},
                     {"live_version", live != nullptr ? json(live->version) : json(nullptr)},
                     {"versions", std::move(versions)}};
         return HttpResponse::Json(200, out.dump());
       }});
  routes.push_back(
      {"GET", {"v1", "journeys", "*", "versions", "*", "source"}, [ctx](const HttpRequest& req) {
         const std::string& id = req.segments[2];
         uint32_t version = 0;
         if (!ParseUint(req.segments[4], version)) {
           return HttpResponse::Error(400, "bad_parameter", "version must be a whole number");
         }
         std::optional<std::string> text;
         if (ctx.store != nullptr) {
           for (auto& [v, source] : StoredVersions(*ctx.store, id)) {
             if (v == version) text = std::move(source);
           }
         }
         if (!text) {
           auto catalog = ctx.catalog ? ctx.catalog() : nullptr;
           if (const auto* j = catalog ? catalog->Version(id, version) : nullptr) text = j->source;
         }
         if (!text) {
           return HttpResponse::Error(404, "version_not_found",
                                      "journey '" + id + "' has no version " + req.segments[4]);
         }
         HttpResponse r;
         r.status = 200;
         r.content_type = "text/yaml; charset=utf-8";
         r.body = std::move(*text);
         return r;
       }});
  routes.push_back({"POST", {"v1", "journeys:validate"}, [](const HttpRequest& req) {
                      if (req.body.size() > kMaxJourneyBytes) {
                        return HttpResponse::Error(413, "too_large",
                                                   "a journey file is at most 1 MiB");
                      }
                      std::string file = req.Query("file", "journey.yaml");
                      return HttpResponse::Json(200, ValidateJourneyJson(req.body, file).dump());
                    }});
  routes.push_back({"PUT", {"v1", "journeys", "*"}, [ctx, deploy_mu](const HttpRequest& req) {
                      return Deploy(ctx, *deploy_mu, req);
                    }});
  routes.push_back({"POST", {"v1", "journeys", "*"}, [ctx](const HttpRequest& req) {
                      return PauseOrResume(ctx, req);
                    }});
  return routes;
}

}  // namespace cairn::api
