#include "flow/overrides.h"

#include <memory>
#include <nlohmann/json.hpp>

namespace cairn::flow {
namespace {

constexpr std::string_view kPrefix = "jp/";

std::string Key(std::string_view journey) {
  std::string k(kPrefix);
  k.append(journey);
  return k;
}

}  // namespace

Status SetPauseOverride(state::StateStore& store, std::string_view journey,
                        const PauseOverride& value) {
  const nlohmann::json j = {{"paused", value.paused}, {"at", value.at_ms}, {"by", value.by}};
  rocksdb::WriteOptions wo;
  wo.sync = true;
  auto s = store.db()->Put(wo, store.meta_cf(), Key(journey), j.dump());
  if (!s.ok()) return Unavailable("store journey override: " + s.ToString());
  return Status::Ok();
}

Status ClearPauseOverride(state::StateStore& store, std::string_view journey) {
  rocksdb::WriteOptions wo;
  wo.sync = true;
  auto s = store.db()->Delete(wo, store.meta_cf(), Key(journey));
  if (!s.ok()) return Unavailable("delete journey override: " + s.ToString());
  return Status::Ok();
}

std::map<std::string, PauseOverride, std::less<>> PauseOverrides(state::StateStore& store) {
  std::map<std::string, PauseOverride, std::less<>> out;
  std::unique_ptr<rocksdb::Iterator> it(
      store.db()->NewIterator(rocksdb::ReadOptions(), store.meta_cf()));
  for (it->Seek(std::string(kPrefix)); it->Valid() && it->key().starts_with(kPrefix); it->Next()) {
    auto j = nlohmann::json::parse(it->value().ToStringView(), nullptr, false);
    if (!j.is_object() || !j.contains("paused") || !j["paused"].is_boolean()) continue;
    PauseOverride o;
    o.paused = j["paused"].get<bool>();
    if (j.contains("at") && j["at"].is_number_integer()) o.at_ms = j["at"].get<TimestampMs>();
    if (j.contains("by") && j["by"].is_string()) o.by = j["by"].get<std::string>();
    out.emplace(it->key().ToString().substr(kPrefix.size()), std::move(o));
  }
  return out;
}

}  // namespace cairn::flow
