#include "analytics/recorder.h"

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <string_view>

#include "analytics/counter_merge.h"
#include "analytics/keys.h"

namespace cairn::analytics {
namespace {

constexpr std::string_view kOther = "(other)";

// Outcome events (engine/dispatch/outcome.h) -> the metric they count.
const char* OutcomeMetric(std::string_view name) {
  if (name == "Message Delivered") return "delivered";
  if (name == "Message Opened") return "opened";
  if (name == "Message Clicked") return "clicked";
  if (name == "Message Bounced") return "bounced";
  if (name == "Message Failed") return "failed";
  if (name == "Unsubscribed") return "unsubscribed";
  return nullptr;
}

std::string StringMember(const nlohmann::json& j, const char* name) {
  auto it = j.find(name);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

int64_t Micros(double v) {
  if (!std::isfinite(v)) return 0;
  return static_cast<int64_t>(std::llround(v * 1e6));
}

}  // namespace

double IntervalBucketBound(int bucket) {
  if (bucket >= kIntervalBuckets - 1) return std::numeric_limits<double>::infinity();
  return std::ldexp(1.0, bucket);  // 1, 2, 4, ... 2^25 seconds
}

int IntervalBucketOf(double seconds) {
  for (int b = 0; b < kIntervalBuckets - 1; ++b) {
    if (seconds <= IntervalBucketBound(b)) return b;
  }
  return kIntervalBuckets - 1;
}

Recorder::Recorder(Options options) : options_(std::move(options)) {}

Status Recorder::Load(state::StateStore& store) {
  names_.clear();
  const std::string prefix(1, kNameKind);
  std::unique_ptr<rocksdb::Iterator> it(
      store.db()->NewIterator(rocksdb::ReadOptions(), store.analytics_cf()));
  ParsedKey k;
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (ParseKey(it->key().ToStringView(), k) && !k.fields.empty()) {
      names_.emplace(k.fields[0]);
    }
  }
  if (!it->status().ok()) return Unavailable("analytics names: " + it->status().ToString());
  return Status::Ok();
}

void Recorder::Add(char kind, const std::vector<std::string_view>& fields, uint32_t hour,
                   int64_t delta) {
  if (delta == 0) return;
  deltas_[Key(kind, fields, hour, partition_)] += delta;
}

void Recorder::AddJourney(const std::string& journey, std::string_view scope, const char* metric,
                          uint32_t hour, int64_t delta) {
  Add(kJourneyKind, {journey, scope, metric}, hour, delta);
}

void Recorder::Begin(int32_t partition, const v1::CustomerState& customer, const Event* event,
                     const flow::Catalog* catalog) {
  partition_ = partition;
  event_ = event;
  catalog_ = catalog;
  before_.clear();
  moved_.clear();
  credited_.clear();
  for (const auto& inst : customer.instances()) {
    if (!inst.done()) before_[{inst.journey(), inst.id()}] = inst.step_id();
  }
}

void Recorder::OnEvent(int32_t partition, const Event& event, const v1::CustomerState& customer,
                       const flow::Catalog* catalog) {
  partition_ = partition;
  const uint32_t hour = HourOf(event.timestamp_ms);
  // Heatmap: every event by name, the number of names bounded.
  std::string_view name = event.name;
  if (names_.count(event.name) == 0) {
    if (names_.size() < options_.max_event_names) {
      names_.insert(event.name);
      Add(kNameKind, {event.name}, 0, 1);
    } else {
      name = kOther;
    }
  }
  Add(kEventKind, {name}, hour, 1);

  // Message outcomes, per journey and step.
  if (const char* metric = OutcomeMetric(event.name)) {
    auto props = nlohmann::json::parse(event.properties_json, nullptr, false);
    if (props.is_object()) {
      const std::string journey = StringMember(props, "journey");
      const std::string step = StringMember(props, "step");
      if (!journey.empty()) {
        AddJourney(journey, "", metric, hour);
        if (!step.empty()) AddJourney(journey, "s:" + step, metric, hour);
      }
    }
  }

  // Conversion intervals: from the customer's last `from` to this `to`.
  for (const auto& pair : options_.intervals) {
    if (pair.to != event.name) continue;
    for (const auto& s : customer.events()) {
      if (s.name() != pair.from) continue;
      if (s.last_at_ms() <= event.timestamp_ms) {
        const double seconds = static_cast<double>(event.timestamp_ms - s.last_at_ms()) / 1000.0;
        const std::string bucket = std::to_string(IntervalBucketOf(seconds));
        Add(kIntervalKind, {pair.from, pair.to, bucket}, hour, 1);
      }
      break;
    }
  }
  Begin(partition, customer, &event, catalog);
}

std::string& Recorder::LastStep(const std::string& journey, uint64_t instance) {
  auto key = std::make_pair(journey, instance);
  auto it = moved_.find(key);
  if (it != moved_.end()) return it->second;
  auto b = before_.find(key);
  return moved_[key] = (b == before_.end() ? std::string() : b->second);
}

v1::JourneyInstance* Recorder::Find(v1::CustomerState& customer, const std::string& journey,
                                    uint64_t instance) {
  for (auto& inst : *customer.mutable_instances()) {
    if (inst.journey() == journey && inst.id() == instance) return &inst;
  }
  return nullptr;
}

double Recorder::CouponCost(const v1::TraceEntry& entry) {
  if (catalog_ == nullptr) return 0;
  if (coupon_catalog_ != catalog_) {
    coupon_costs_.clear();
    coupon_catalog_ = catalog_;
  }
  std::string key = entry.journey();
  key.push_back('\0');
  key += std::to_string(entry.version());
  key.push_back('\0');
  key += entry.step();
  auto it = coupon_costs_.find(key);
  if (it != coupon_costs_.end()) return it->second;
  double cost = 0;
  if (const auto* j = catalog_->Version(entry.journey(), entry.version())) {
    for (const auto& st : j->steps) {
      if (st.id != entry.step()) continue;
      auto params = nlohmann::json::parse(st.params_json, nullptr, false);
      if (params.is_object()) {
        auto c = params.find("coupon_cost");
        if (c != params.end() && c->is_number()) cost = c->get<double>();
      }
      break;
    }
  }
  coupon_costs_.emplace(std::move(key), cost);
  return cost;
}

double Recorder::Revenue() const {
  if (event_ == nullptr) return 0;
  for (const auto& want : options_.revenue_properties) {
    for (const auto& [name, value] : event_->numeric_properties) {
      if (name == want) return value;
    }
  }
  return 0;
}

void Recorder::OnTrace(const v1::TraceEntry& entry, v1::CustomerState& customer) {
  if (entry.journey().empty() || entry.instance() == 0) return;  // entry refused: no instance
  const std::string& journey = entry.journey();
  const std::string& action = entry.action();
  const uint32_t hour = HourOf(entry.at_ms());
  v1::JourneyInstance* inst = Find(customer, journey, entry.instance());
  const std::string arm = inst != nullptr ? inst->arm() : std::string();

  if (action == "goal") {
    // One order is revenue once per journey, however many of its instances it converts.
    const int64_t revenue = credited_.insert(journey).second ? Micros(Revenue()) : 0;
    AddJourney(journey, "", kGoal, hour);
    AddJourney(journey, "", kRevenue, hour, revenue);
    if (!arm.empty()) {
      AddJourney(journey, "a:" + arm, kGoal, hour);
      AddJourney(journey, "a:" + arm, kRevenue, hour, revenue);
    }
    return;
  }
  if (action == "hold" || action == "resume" || action == "error" || action == "migrate") return;

  std::string& last = LastStep(journey, entry.instance());
  if (action == "enter") {
    AddJourney(journey, "", kEntered, hour);
    AddJourney(journey, "", kInStep, kRunningHour);
    last.clear();
    return;
  }
  // A step opens when the instance's trace names a step it was not at.
  const std::string& step = entry.step();
  if (!step.empty() && step != last) {
    if (!last.empty()) {
      AddJourney(journey, "s:" + last, kExited, hour);
      AddJourney(journey, "s:" + last, kInStep, kRunningHour, -1);
    }
    AddJourney(journey, "s:" + step, kEntered, hour);
    AddJourney(journey, "s:" + step, kInStep, kRunningHour);
    last = step;
    if (inst != nullptr && inst->analytics_path_size() < kMaxPath) inst->add_analytics_path(step);
  }
  if (action == "exit") {
    AddJourney(journey, "", kExited, hour);
    AddJourney(journey, "", kInStep, kRunningHour, -1);
    if (!last.empty()) {
      AddJourney(journey, "s:" + last, kExited, hour);
      AddJourney(journey, "s:" + last, kInStep, kRunningHour, -1);
      last.clear();
    }
    if (inst != nullptr) {
      std::string path;
      for (const auto& s : inst->analytics_path()) {
        if (!path.empty()) path.push_back(kPathSeparator);
        path += s;
      }
      Add(kPathKind, {journey, path}, hour, 1);
      inst->clear_analytics_path();
    }
    return;
  }
  if (action == "send") {
    double cost = CouponCost(entry);
    auto c = options_.cost_per_message.find(entry.channel());
    if (c != options_.cost_per_message.end()) cost += c->second;
    AddJourney(journey, "", kSent, hour);
    AddJourney(journey, "s:" + step, kSent, hour);
    AddJourney(journey, "", kCost, hour, Micros(cost));
    if (!arm.empty()) AddJourney(journey, "a:" + arm, kCost, hour, Micros(cost));
  } else if (action == "skip") {
    AddJourney(journey, "s:" + step, kSkipped, hour);
  } else if (action == "split" || action == "holdout") {
    if (!arm.empty()) {
      AddJourney(journey, "a:" + arm, kEntered, hour);
      if (action == "holdout") AddJourney(journey, "a:" + arm, kHoldout, hour);
    }
  }
}

void Recorder::Stage(state::StateStore::Batch& batch, rocksdb::ColumnFamilyHandle* cf) {
  for (const auto& [key, delta] : deltas_) {
    if (delta != 0) (void)batch.raw().Merge(cf, key, EncodeCounter(delta));
  }
  deltas_.clear();
}

}  // namespace cairn::analytics
