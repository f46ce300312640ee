#include "gov_host.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "cairn/time.h"
#include "journey/loader.h"
#include "profile/loader.h"

namespace cairn::governance::testing {

TimestampMs T(std::string_view rfc3339) {
  auto ms = ParseTimestamp(rfc3339);
  EXPECT_TRUE(ms.has_value()) << "bad timestamp in the test: " << rfc3339;
  return ms.value_or(0);
}

void GovHost::Install(std::string_view profile_yaml, const std::vector<std::string>& journeys,
                      const std::string& profile_path) {
  auto p = profile::LoadProfile({{profile_path, std::string(profile_yaml)}});
  std::string problems;
  for (const auto& d : p.diagnostics) problems += d.ToString() + "\n";
  ASSERT_TRUE(p.model) << problems;
  std::vector<journey::Journey> list;
  for (const auto& y : journeys) {
    auto r = journey::LoadJourney(y, "test.yaml");
    std::string jp;
    for (const auto& d : r.diagnostics) jp += d.ToString() + "\n";
    ASSERT_TRUE(r.journey) << jp << y;
    list.push_back(std::move(*r.journey));
  }
  catalog_ = flow::Catalog::Build(std::move(list), {}, ++generation_, p.model);
  runtime_.SetCatalog(catalog_);
}

void GovHost::AdvanceTo(TimestampMs t) {
  while (!timers_.empty() && std::get<0>(timers_.begin()->first) <= t) {
    timer::Timer tm = std::move(timers_.begin()->second);
    timers_.erase(timers_.begin());
    now_ = std::max(now_, tm.due_ms);
    flow::Context ctx{0, now_, this};
    runtime_.OnTimer(ctx, customers_[tm.customer_id], tm);
  }
  now_ = std::max(now_, t);
}

void GovHost::Jump(int64_t delta) {
  if (delta > 0) {
    AdvanceTo(now_);  // what was due before the jump fired on time
    now_ += delta;
    AdvanceTo(now_);  // the rest fire late, at the new reading
  } else {
    now_ += delta;
  }
}

void GovHost::Event(const std::string& segment_json) {
  AdvanceTo(now_);
  ingest::RawMessage raw;
  raw.payload = segment_json;
  raw.broker_timestamp_ms = now_;
  cairn::Event e;
  if (auto err = parser_.Parse(raw, e)) {
    ADD_FAILURE() << "bad event in the test: " << err->detail << ": " << segment_json;
    return;
  }
  e.timestamp_ms = now_;
  if (e.message_id.empty()) e.message_id = fmt::format("test-{}", ++made_up_ids_);
  auto& c = customers_[e.customer_id()];
  const std::string old_traits = c.traits_json();
  if (state::Apply(state_options_, e, c, nullptr) == state::ApplyResult::kDuplicate) return;
  flow::Context ctx{0, now_, this};
  runtime_.OnEvent(ctx, c, e, e.type == EventType::kIdentify ? &old_traits : nullptr);
}

void GovHost::Track(const std::string& user, const std::string& event,
                    const std::string& properties_json) {
  nlohmann::json j = {{"type", "track"}, {"userId", user}, {"event", event}};
  j["properties"] = nlohmann::json::parse(properties_json);
  Event(j.dump());
}

void GovHost::Identify(const std::string& user, const std::string& traits_json) {
  nlohmann::json j = {{"type", "identify"}, {"userId", user}};
  j["traits"] = nlohmann::json::parse(traits_json);
  Event(j.dump());
}

void GovHost::AddTimer(const timer::Timer& timer) {
  EXPECT_GT(timer.due_ms, 0);
  timers_[Key{timer.due_ms, timer.customer_id, timer.tag}] = timer;
}

std::vector<std::string> GovHost::Lines(std::string_view customer, std::string_view actions) const {
  std::vector<std::string> wanted;
  std::istringstream in{std::string(actions)};
  for (std::string a; in >> a;) wanted.push_back(a);
  std::vector<std::string> out;
  for (const auto& e : trace_) {
    if (e.customer() != customer) continue;
    if (!wanted.empty() && std::find(wanted.begin(), wanted.end(), e.action()) == wanted.end()) {
      continue;
    }
    std::string line = e.journey();
    if (e.instance() != 0) line += fmt::format("#{}", e.instance());
    line += " " + (e.step().empty() ? std::string("-") : e.step()) + " " + e.action();
    if (!e.reason().empty()) line += ": " + e.reason();
    out.push_back(std::move(line));
  }
  return out;
}

}  // namespace cairn::governance::testing
