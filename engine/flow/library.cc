#include "flow/library.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cairn/big_endian.h"
#include "flow/overrides.h"
#include "profile/loader.h"

namespace cairn::flow {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kVersionPrefix = "jv/";

std::string VersionKey(const std::string& name, uint32_t version) {
  std::string k(kVersionPrefix);
  k += name;
  k.push_back('/');
  PutU32BE(k, version);
  return k;
}

std::vector<std::string> JourneyFiles(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const auto ext = e.path().extension().string();
    if ((ext == ".yaml" || ext == ".yml") && e.is_regular_file(ec))
      out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::optional<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

Library::Library(std::string dir, state::StateStore* store) : dir_(std::move(dir)), store_(store) {}

Library::~Library() {
  {
    std::lock_guard lock(stop_mu_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  if (watcher_.joinable()) watcher_.join();
}

void Library::Persist(const journey::Journey& j) {
  if (store_ == nullptr) return;
  rocksdb::WriteOptions wo;
  wo.sync = true;  // before any customer can enter this version
  auto s = store_->db()->Put(wo, store_->meta_cf(), VersionKey(j.name, j.version), j.source);
  if (!s.ok())
    spdlog::error("journey {} v{}: could not store its source: {}", j.name, j.version,
                  s.ToString());
}

std::vector<journey::Journey> Library::StoredVersions(
    const std::map<std::string, uint32_t>& current) {
  std::vector<journey::Journey> out;
  if (store_ == nullptr) return out;
  std::unique_ptr<rocksdb::Iterator> it(
      store_->db()->NewIterator(rocksdb::ReadOptions(), store_->meta_cf()));
  for (it->Seek(std::string(kVersionPrefix)); it->Valid() && it->key().starts_with(kVersionPrefix);
       it->Next()) {
    const std::string key = it->key().ToString();
    if (key.size() < kVersionPrefix.size() + 5) continue;
    const std::string name =
        key.substr(kVersionPrefix.size(), key.size() - kVersionPrefix.size() - 5);
    auto cur = current.find(name);
    const uint32_t version = GetU32BE(key.data() + key.size() - 4);
    if (cur != current.end() && cur->second == version) continue;
    auto r =
        journey::LoadJourney(it->value().ToString(), fmt::format("<stored {} v{}>", name, version));
    if (r.journey) out.push_back(std::move(*r.journey));
  }
  return out;
}

Library::Outcome Library::Reload() {
  std::lock_guard lock(mu_);
  Outcome out;
  bool changed = first_;
  std::map<std::string, bool> present;
  for (const auto& file : JourneyFiles(dir_)) {
    present[file] = true;
    auto text = ReadFile(file);
    if (!text) continue;
    const size_t h = std::hash<std::string>()(*text);
    auto prev = hashes_.find(file);
    if (prev != hashes_.end() && prev->second == h) continue;
    hashes_[file] = h;
    auto r = journey::LoadJourney(*text, file);
    if (!r.journey) {
      for (auto& d : r.diagnostics) {
        spdlog::error("journey refused: {}", d.ToString());
        out.refused.push_back(std::move(d));
      }
      if (good_.count(file) != 0) {
        spdlog::error("{}: keeps running {} v{} loaded before", file, good_[file].name,
                      good_[file].version);
      }
      continue;
    }
    // Another file already defines this journey name: refuse the newcomer.
    bool clash = false;
    for (const auto& [other, j] : good_) {
      if (other != file && j.name == r.journey->name) {
        out.refused.push_back(
            {file, r.journey->trigger.pos,
             fmt::format("journey '{}' is already defined in {}", j.name, other)});
        spdlog::error("journey refused: {}", out.refused.back().ToString());
        clash = true;
      }
    }
    if (clash) continue;
    auto old = good_.find(file);
    if (old != good_.end() && old->second.version != r.journey->version) {
      retired_.push_back(std::move(old->second));
    }
    Persist(*r.journey);
    out.loaded.push_back(fmt::format("{} v{} ({})", r.journey->name, r.journey->version, file));
    good_[file] = std::move(*r.journey);
    changed = true;
  }
  for (auto it = good_.begin(); it != good_.end();) {
    if (present.count(it->first) == 0) {
      spdlog::warn("{}: removed; journey {} takes no new customers", it->first, it->second.name);
      retired_.push_back(std::move(it->second));
      hashes_.erase(it->first);
      it = good_.erase(it);
      changed = true;
    } else {
      ++it;
    }
  }
  changed = ReloadProfile(out) || changed;
  // Operator pause/resume overrides (jp/, overrides.h) apply on top of the YAML.
  if (store_ != nullptr) {
    auto overrides = PauseOverrides(*store_);
    if (overrides != overrides_) {
      overrides_ = std::move(overrides);
      changed = true;
    }
  }
  first_ = false;
  if (!changed) return out;
  std::vector<journey::Journey> current;
  std::map<std::string, uint32_t> versions;
  for (const auto& [file, j] : good_) {
    current.push_back(j);
    if (auto o = overrides_.find(j.name); o != overrides_.end()) {
      current.back().paused = o->second.paused;
    }
    versions[j.name] = j.version;
  }
  std::vector<journey::Journey> previous = StoredVersions(versions);
  for (const auto& j : retired_) previous.push_back(j);
  out.catalog = Catalog::Build(std::move(current), std::move(previous), ++generation_, profile_);
  return out;
}

bool Library::ReloadProfile(Outcome& out) {
  const std::string pdir = profile::ProfileDirOf(dir_);
  size_t h = 0;
  for (const auto& file : JourneyFiles(pdir)) {
    auto text = ReadFile(file);
    h = h * 31 + std::hash<std::string>()(file + '\0' + text.value_or(""));
  }
  // The governance suppression list is a file beside them: reload on its change too.
  if (profile_ != nullptr && !profile_->governance.suppression_file.empty()) {
    h = h * 31 + std::hash<std::string>()(
                     ReadFile(profile_->governance.suppression_file).value_or(std::string()));
  }
  if (!first_ && h == profile_hash_) return false;
  profile_hash_ = h;
  auto r = profile::LoadProfileDir(pdir);
  if (!r.model) {
    for (auto& d : r.diagnostics) {
      spdlog::error("profile refused: {}", d.ToString());
      out.refused.push_back(std::move(d));
    }
    if (profile_ != nullptr) spdlog::error("{}: keeps running the profile loaded before", pdir);
    return false;
  }
  profile_ = std::move(r.model);
  if (!profile_->empty()) {
    out.loaded.push_back(fmt::format("profile: {} computed traits, {} segments ({})",
                                     profile_->traits.size(), profile_->segments.size(), pdir));
  }
  return true;
}

void Library::Watch(int interval_ms, OnChange on_change) {
  watcher_ = std::thread([this, interval_ms, on_change = std::move(on_change)] {
    std::unique_lock lock(stop_mu_);
    while (
        !stop_cv_.wait_for(lock, std::chrono::milliseconds(interval_ms), [&] { return stop_; })) {
      lock.unlock();
      Outcome o = Reload();
      if (o.catalog) {
        for (const auto& l : o.loaded) spdlog::info("journey loaded: {}", l);
        on_change(o.catalog);
      }
      lock.lock();
    }
  });
}

}  // namespace cairn::flow
