// The journeys the engine runs: every loaded version of every journey, and
// the indexes that make trigger matching cost per event independent of how
// many journeys cannot match (event name -> candidate journeys).
//
// A Catalog is immutable once built; the engine swaps in a new one on hot
// reload (shared_ptr), so the ingest thread never takes a lock to read it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "journey/model.h"
#include "profile/model.h"

namespace cairn::flow {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>()(s); }
};
using JourneyList = std::vector<const journey::Journey*>;
using NameIndex = std::unordered_map<std::string, JourneyList, StringHash, std::equal_to<>>;

class Catalog {
 public:
  // `current`: the journeys as loaded from files now (one version each).
  // `previous`: older versions still needed by pinned instances (e.g. from
  // RocksDB); a version in both is taken from `current`.
  // `profile`: the profile model (computed traits, segments, governance);
  // null means an empty one.
  static std::shared_ptr<const Catalog> Build(
      std::vector<journey::Journey> current, std::vector<journey::Journey> previous,
      uint64_t generation, std::shared_ptr<const profile::Model> profile = nullptr);

  // The version new customers enter; nullptr if the journey is not loaded.
  const journey::Journey* Current(std::string_view name) const;
  // A specific version; nullptr if unknown.
  const journey::Journey* Version(std::string_view name, uint32_t version) const;

  // Candidates, by trigger kind. Empty list when none.
  const JourneyList& ByEvent(std::string_view event_name) const;  // kEvent triggers
  // kTraitChanged on this top-level trait or a path below it ("loyalty" for
  // "loyalty.tier").
  const JourneyList& ByTrait(std::string_view trait) const;
  const JourneyList& AbsenceOf(std::string_view event_name) const;  // kAbsence on this event
  const JourneyList& DateOn(std::string_view trait) const;          // kDate on this trait
  const JourneyList& absence_journeys() const { return absence_; }
  const JourneyList& date_journeys() const { return date_; }
  // Event names some wait_for step looks back for, with the longest look-back.
  int64_t LookbackFor(std::string_view event_name) const;
  int64_t max_lookback_ms() const { return max_lookback_ms_; }
  bool has_trait_triggers() const { return !by_trait_.empty(); }

  // Every current journey, by name.
  const std::map<std::string, const journey::Journey*, std::less<>>& current() const {
    return current_;
  }
  uint64_t generation() const { return generation_; }
  // The profile model loaded with these journeys; never null.
  const profile::Model& profile() const { return *profile_; }
  const std::shared_ptr<const profile::Model>& profile_ptr() const { return profile_; }

 private:
  Catalog() = default;
  std::vector<std::unique_ptr<journey::Journey>> owned_;
  std::map<std::string, const journey::Journey*, std::less<>> current_;
  std::map<std::pair<std::string, uint32_t>, const journey::Journey*> versions_;
  NameIndex by_event_, by_trait_, absence_by_event_, date_by_trait_;
  JourneyList absence_, date_;
  std::unordered_map<std::string, int64_t, StringHash, std::equal_to<>> lookback_;
  int64_t max_lookback_ms_ = 0;
  uint64_t generation_ = 0;
  std::shared_ptr<const profile::Model> profile_;
};

}  // namespace cairn::flow
