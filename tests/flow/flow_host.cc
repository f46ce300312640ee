#include "flow_host.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <sstream>
#include <utility>

#include "cairn/time.h"
#include "journey/loader.h"
#include "profile/loader.h"

namespace cairn::flow::testing {

TimestampMs T(std::string_view rfc3339) {
  auto ms = ParseTimestamp(rfc3339);
  EXPECT_TRUE(ms.has_value()) << "bad timestamp in the test: " << rfc3339;
  return ms.value_or(0);
}

std::string Iso(TimestampMs ms) {
  std::string s = FormatTimestamp(ms);
  if (s.size() > 5 && s.compare(s.size() - 5, 5, ".000Z") == 0) s.replace(s.size() - 5, 5, "Z");
  return s;
}

journey::Journey Load(std::string_view yaml) {
  journey::LoadResult r = journey::LoadJourney(yaml, "test.yaml");
  std::string problems;
  for (const auto& d : r.diagnostics) problems += d.ToString() + "\n";
  EXPECT_TRUE(r.diagnostics.empty()) << problems << yaml;
  if (!r.journey) return journey::Journey{};
  return std::move(*r.journey);
}

Host::Host(RuntimeOptions options) : runtime_(std::move(options)) {}

void Host::Install(std::vector<journey::Journey> current, std::vector<journey::Journey> previous) {
  runtime_.SetCatalog(
      Catalog::Build(std::move(current), std::move(previous), ++generation_, profile_));
}

void Host::SetProfile(std::string_view profile_yaml) {
  auto r = profile::LoadProfile({{"profile.yaml", std::string(profile_yaml)}});
  std::string problems;
  for (const auto& d : r.diagnostics) problems += d.ToString() + "\n";
  EXPECT_TRUE(r.diagnostics.empty()) << problems << profile_yaml;
  profile_ = r.model;
}

void Host::Install(std::vector<std::string> current_yaml, std::vector<std::string> previous_yaml) {
  std::vector<journey::Journey> current, previous;
  for (const auto& y : current_yaml) current.push_back(Load(y));
  for (const auto& y : previous_yaml) previous.push_back(Load(y));
  Install(std::move(current), std::move(previous));
}

void Host::Event(std::string_view segment_json, TimestampMs at) {
  ingest::RawMessage raw;
  raw.payload = segment_json;
  raw.broker_timestamp_ms = at;
  cairn::Event e;
  if (auto err = parser_.Parse(raw, e)) {
    ADD_FAILURE() << "bad event in the test: " << err->detail << ": " << segment_json;
    return;
  }
  Event(std::move(e), at);
}

void Host::Event(cairn::Event e, TimestampMs at) {
  if (fire_before_events_ && at > now_) AdvanceTo(at - 1);
  now_ = std::max(now_, at);
  e.timestamp_ms = at;
  if (e.message_id.empty()) e.message_id = fmt::format("test-{}", ++made_up_ids_);
  auto& c = customers_[e.customer_id()];
  const std::string old_traits = c.traits_json();
  if (state::Apply(state_options_, e, c, nullptr) == state::ApplyResult::kDuplicate) return;
  Context ctx{0, at, this, &profile_stats_, rfm_quantiles_};
  runtime_.OnEvent(ctx, c, e, e.type == EventType::kIdentify ? &old_traits : nullptr);
}

void Host::Track(const std::string& user, const std::string& event, TimestampMs at,
                 const std::string& properties_json) {
  nlohmann::json j = {{"type", "track"}, {"userId", user}, {"event", event}};
  j["properties"] = nlohmann::json::parse(properties_json);
  Event(j.dump(), at);
}

void Host::Identify(const std::string& user, const std::string& traits_json, TimestampMs at) {
  nlohmann::json j = {{"type", "identify"}, {"userId", user}};
  j["traits"] = nlohmann::json::parse(traits_json);
  Event(j.dump(), at);
}

void Host::AdvanceTo(TimestampMs t) {
  while (!timers_.empty() && std::get<0>(timers_.begin()->first) <= t) {
    timer::Timer tm = std::move(timers_.begin()->second);
    timers_.erase(timers_.begin());
    now_ = std::max(now_, tm.due_ms);
    Context ctx{0, tm.due_ms, this, &profile_stats_, rfm_quantiles_};
    runtime_.OnTimer(ctx, customers_[tm.customer_id], tm);
  }
  now_ = std::max(now_, t);
}

void Host::AddTimer(const timer::Timer& timer) {
  EXPECT_GT(timer.due_ms, 0);
  timers_[Key{timer.due_ms, timer.customer_id, timer.tag}] = timer;
}

void Host::Publish(const v1::OutboxRecord& record) { outbox_.push_back(record); }

void Host::Record(const v1::TraceEntry& entry) { trace_.push_back(entry); }

std::vector<std::string> Host::Lines(std::string_view customer) const {
  std::vector<std::string> out;
  for (const auto& e : trace_) {
    if (!customer.empty() && e.customer() != customer) continue;
    std::string line = Iso(e.at_ms()) + " " + e.journey();
    if (e.instance() != 0) line += fmt::format("#{}", e.instance());
    line += " " + (e.step().empty() ? std::string("-") : e.step()) + " " + e.action();
    if (!e.reason().empty()) line += ": " + e.reason();
    out.push_back(std::move(line));
  }
  return out;
}

std::vector<std::string> Host::Lines(std::string_view customer, std::string_view actions) const {
  std::vector<std::string> wanted;
  std::istringstream in{std::string(actions)};
  for (std::string a; in >> a;) wanted.push_back(a);
  std::vector<std::string> out;
  const auto all = Lines(customer);
  size_t i = 0;
  for (const auto& e : trace_) {
    if (!customer.empty() && e.customer() != customer) continue;
    if (std::find(wanted.begin(), wanted.end(), e.action()) != wanted.end()) out.push_back(all[i]);
    ++i;
  }
  return out;
}

std::vector<std::string> Host::Tasks(std::string_view customer) const {
  std::vector<std::string> out;
  for (const auto& r : outbox_) {
    if (r.topic() != runtime_.options().tasks_topic) continue;
    if (!customer.empty() && r.key() != customer) continue;
    out.push_back(r.value());
  }
  return out;
}

std::vector<std::string> Host::TaskIds() const {
  std::vector<std::string> out;
  for (const auto& e : trace_) {
    if (!e.task_id().empty()) out.push_back(e.task_id());
  }
  return out;
}

const v1::JourneyInstance* Host::Active(const std::string& id, std::string_view journey) {
  for (const auto& inst : customers_[id].instances()) {
    if (inst.journey() == journey && !inst.done()) return &inst;
  }
  return nullptr;
}

std::vector<TimestampMs> Host::TimersOf(const std::string& id) const {
  std::vector<TimestampMs> out;
  for (const auto& [key, t] : timers_) {
    if (t.customer_id == id) out.push_back(t.due_ms);
  }
  return out;
}

}  // namespace cairn::flow::testing
