#include "state/customer_state.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "cairn/fnv1a.h"

namespace cairn::state {

uint64_t MessageIdHash(std::string_view message_id) {
  return Fnv1a64(message_id);  // stable across builds and machines
}

namespace {

v1::EventStats& StatsFor(v1::CustomerState& state, const std::string& name) {
  for (auto& s : *state.mutable_events()) {
    if (s.name() == name) return s;
  }
  auto* s = state.add_events();
  s->set_name(name);
  return *s;
}

// Merges the top-level members of `traits_json` into the state's traits
// (later values win; null stays null, as Segment's identify does).
void MergeTraits(const std::string& traits_json, v1::CustomerState& state) {
  if (traits_json.size() <= 2) return;  // "{}"
  auto incoming = nlohmann::json::parse(traits_json, nullptr, /*allow_exceptions=*/false);
  if (!incoming.is_object() || incoming.empty()) return;
  nlohmann::json current = state.traits_json().empty()
                               ? nlohmann::json::object()
                               : nlohmann::json::parse(state.traits_json(), nullptr, false);
  if (!current.is_object()) current = nlohmann::json::object();
  current.update(incoming);
  state.set_traits_json(current.dump());
}

// `Unsubscribed` / `Subscribed` with properties.channel set the trait
// consent.<channel> to false / true, leaving every other trait (and every
// other channel's consent) as it was. The runtime's consent check reads it.
void ApplyConsent(const Event& event, v1::CustomerState& state) {
  if (event.type != EventType::kTrack) return;
  const bool unsubscribed = event.name == "Unsubscribed";
  if (!unsubscribed && event.name != "Subscribed") return;
  const auto props = nlohmann::json::parse(event.properties_json, nullptr, false);
  if (!props.is_object()) return;
  auto channel = props.find("channel");
  if (channel == props.end() || !channel->is_string() ||
      channel->get_ref<const std::string&>().empty()) {
    return;
  }
  nlohmann::json traits = state.traits_json().empty()
                              ? nlohmann::json::object()
                              : nlohmann::json::parse(state.traits_json(), nullptr, false);
  if (!traits.is_object()) traits = nlohmann::json::object();
  nlohmann::json& consent = traits["consent"];
  if (!consent.is_object()) consent = nlohmann::json::object();
  consent[channel->get<std::string>()] = !unsubscribed;
  state.set_traits_json(traits.dump());
}

bool RememberMessageId(const StateOptions& options, std::string_view message_id,
                       v1::CustomerState& state) {
  if (message_id.empty() || options.dedup_window == 0) return true;
  const uint64_t h = MessageIdHash(message_id);
  auto* ids = state.mutable_recent_message_ids();
  if (std::find(ids->begin(), ids->end(), h) != ids->end()) return false;
  if (static_cast<uint32_t>(ids->size()) >= options.dedup_window) {
    const int drop = ids->size() - static_cast<int>(options.dedup_window) + 1;
    ids->erase(ids->begin(), ids->begin() + drop);
  }
  ids->Add(h);
  return true;
}

template <typename T>
void PrefetchLines(const T* data, size_t count) {
  const auto* p = reinterpret_cast<const char*>(data);
  for (size_t k = 0; k < count * sizeof(T); k += 64) __builtin_prefetch(p + k);
}

}  // namespace

// noipa: GCC 12 finds the function without effect (a prefetch is only a
// hint) and drops the call from Apply.
[[gnu::noipa]] void Prefetch(const v1::CustomerState& state) {
  PrefetchLines(state.recent_message_ids().data(),
                static_cast<size_t>(state.recent_message_ids_size()));
  for (const auto& e : state.events()) __builtin_prefetch(&e);
  for (const auto& i : state.instances()) __builtin_prefetch(&i);
  for (const auto& e : state.journey_entries()) __builtin_prefetch(&e);
  for (const auto& r : state.lookback()) __builtin_prefetch(&r);
  if (!state.has_profile()) return;
  const v1::ProfileState& p = state.profile();
  const v1::ComputedTraits& c = p.computed();
  PrefetchLines(c.var_end().data(), static_cast<size_t>(c.var_end_size()));
  PrefetchLines(c.var().data(), static_cast<size_t>(c.var_size()));
  PrefetchLines(c.num().data(), static_cast<size_t>(c.num_size()));
  PrefetchLines(c.name_hash().data(), static_cast<size_t>(c.name_hash_size()));
  PrefetchLines(c.code().data(), c.code().size());
  PrefetchLines(p.segment_names().data(), p.segment_names().size());
}

ApplyResult Apply(const StateOptions& options, const Event& event, v1::CustomerState& state,
                  v1::HistoryEntry* history) {
  Prefetch(state);
  if (!RememberMessageId(options, event.message_id, state)) return ApplyResult::kDuplicate;

  const TimestampMs ts = event.timestamp_ms;
  if (state.id().empty()) state.set_id(event.customer_id());
  if (state.events_total() == 0 || ts < state.first_seen_ms()) state.set_first_seen_ms(ts);
  if (state.events_total() == 0 || ts > state.last_seen_ms()) state.set_last_seen_ms(ts);
  state.set_events_total(state.events_total() + 1);

  v1::EventStats& stats = StatsFor(state, event.name);
  if (stats.count() == 0 || ts < stats.first_at_ms()) stats.set_first_at_ms(ts);
  if (stats.count() == 0 || ts > stats.last_at_ms()) stats.set_last_at_ms(ts);
  stats.set_count(stats.count() + 1);
  for (const auto& [prop, value] : event.numeric_properties) {
    if (std::find(options.summed_properties.begin(), options.summed_properties.end(), prop) !=
        options.summed_properties.end()) {
      (*stats.mutable_sums())[prop] += value;
    }
  }

  if (event.type == EventType::kIdentify) MergeTraits(event.traits_json, state);
  ApplyConsent(event, state);

  if (history != nullptr) {
    history->Clear();
    history->set_name(event.name);
    history->set_type(static_cast<uint32_t>(event.type));
    history->set_timestamp_ms(ts);
    history->set_message_id(event.message_id);
    if (event.properties_json.size() <= options.history_max_properties) {
      history->set_properties_json(event.properties_json);
    }
  }
  return ApplyResult::kApplied;
}

}  // namespace cairn::state
