#include "flow/simulator.h"

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>

namespace cairn::flow {

Simulator::Simulator(std::shared_ptr<const Catalog> catalog, const SimulatorOptions& options)
    : options_(options), catalog_(std::move(catalog)) {
  runtime_.SetCatalog(catalog_);
}

Simulator::~Simulator() = default;

Result<std::unique_ptr<Simulator>> Simulator::Create(std::shared_ptr<const Catalog> catalog,
                                                     const SimulatorOptions& options) {
  std::unique_ptr<Simulator> sim(new Simulator(std::move(catalog), options));
  state::StoreOptions so;
  so.dir = options.data_dir;
  so.block_cache_bytes = 16 << 20;
  so.write_buffer_bytes = 16 << 20;
  auto store = state::StateStore::Open(so);
  if (!store.ok()) return store.status();
  sim->store_ = std::move(store).value();
  sim->timers_ = std::make_unique<timer::TimerStore>(sim->store_.get());
  sim->batch_ = std::make_unique<state::StateStore::Batch>(sim->store_->NewBatch());
  return sim;
}

Status Simulator::AddEvent(std::string_view json, const std::string& where) {
  ingest::RawMessage raw;
  raw.payload = json;
  Queued q;
  if (auto err = parser_.Parse(raw, q.event)) {
    return InvalidArgument(
        fmt::format("{}: {}: {}", where, ingest::DeadLetterReasonName(err->reason), err->detail));
  }
  q.order = order_++;
  queue_.push_back(std::move(q));
  return Status::Ok();
}

Status Simulator::AddProfile(std::string_view json, const std::string& where) {
  auto j = nlohmann::json::parse(json, nullptr, false);
  if (!j.is_object() || !j.contains("userId") || !j["userId"].is_string()) {
    return InvalidArgument(where + ": a profile needs a string userId");
  }
  nlohmann::json e = {{"type", "identify"},
                      {"userId", j["userId"]},
                      {"traits", j.value("traits", nlohmann::json::object())}};
  if (j.contains("timestamp")) e["timestamp"] = j["timestamp"];
  ingest::RawMessage raw;
  const std::string text = e.dump();
  raw.payload = text;
  Queued q;
  if (auto err = parser_.Parse(raw, q.event)) {
    return InvalidArgument(fmt::format("{}: {}", where, err->detail));
  }
  q.profile = !j.contains("timestamp");
  q.order = order_++;
  queue_.push_back(std::move(q));
  return Status::Ok();
}

Status Simulator::Write() { return store_->Write(*batch_); }

void Simulator::AddTimer(const timer::Timer& timer) { timers_->Add(*batch_, timer); }

void Simulator::Publish(const v1::OutboxRecord& record) {
  if (record.topic() != runtime_.options().events_topic) return;  // tasks: the trace says it
  ingest::RawMessage raw;
  raw.payload = record.value();
  Event e;
  if (!parser_.Parse(raw, e)) emitted_.push_back(std::move(e));
}

void Simulator::Record(const v1::TraceEntry& entry) {
  counts_[entry.journey()][entry.step().empty() ? "-" : entry.step()][entry.action()]++;
  if (on_action_) on_action_(entry);
}

Status Simulator::Process(const Event& e) {
  auto& c = customers_[e.customer_id()];
  const std::string old_traits = c.traits_json();
  if (state::Apply(options_.state, e, c, nullptr) == state::ApplyResult::kDuplicate) {
    return Status::Ok();
  }
  ++events_;
  Context ctx{0, e.timestamp_ms, this};
  runtime_.OnEvent(ctx, c, e, e.type == EventType::kIdentify ? &old_traits : nullptr);
  CAIRN_RETURN_IF_ERROR(Write());
  // Events the journeys emitted come back in, at the time they were emitted.
  while (!emitted_.empty()) {
    std::vector<Event> next;
    next.swap(emitted_);
    for (auto& em : next) CAIRN_RETURN_IF_ERROR(Process(em));
  }
  return Status::Ok();
}

Status Simulator::FireUntil(TimestampMs t) {
  std::vector<timer::Timer> due;
  for (;;) {
    const auto next = timers_->NextDue(0);
    if (!next || *next > t) return Status::Ok();
    due.clear();
    CAIRN_RETURN_IF_ERROR(timers_->Due(0, t, 1, due));
    if (due.empty()) return Status::Ok();
    // One timer at a time, at its own due time: a timer's effects (a new,
    // earlier timer) are in order with the rest.
    const timer::Timer& tm = due.front();
    ++timers_fired_;
    auto& c = customers_[tm.customer_id];
    Context ctx{0, tm.due_ms, this};
    runtime_.OnTimer(ctx, c, tm);
    timers_->Consume(*batch_, 0, tm);
    CAIRN_RETURN_IF_ERROR(Write());
    while (!emitted_.empty()) {
      std::vector<Event> next_events;
      next_events.swap(emitted_);
      for (auto& em : next_events) CAIRN_RETURN_IF_ERROR(Process(em));
    }
  }
}

Status Simulator::Run() {
  TimestampMs first = 0, last = 0;
  bool any = false;
  for (const auto& q : queue_) {
    if (q.profile) continue;
    first = any ? std::min(first, q.event.timestamp_ms) : q.event.timestamp_ms;
    last = any ? std::max(last, q.event.timestamp_ms) : q.event.timestamp_ms;
    any = true;
  }
  for (auto& q : queue_) {
    if (q.profile) q.event.timestamp_ms = first;
  }
  std::stable_sort(queue_.begin(), queue_.end(), [](const Queued& a, const Queued& b) {
    if (a.profile != b.profile) return a.profile;  // profiles first
    return a.event.timestamp_ms < b.event.timestamp_ms;
  });
  for (const auto& q : queue_) {
    CAIRN_RETURN_IF_ERROR(FireUntil(q.event.timestamp_ms - 1));
    CAIRN_RETURN_IF_ERROR(Process(q.event));
  }
  int64_t horizon = options_.horizon_ms;
  if (horizon < 0) {  // the longest absence window plus the longest max_lifetime
    int64_t longest_for = 0, longest_life = 0;
    for (const auto& [name, j] : catalog_->current()) {
      longest_for = std::max(longest_for, j->trigger.for_ms);
      longest_life = std::max(
          longest_life, j->max_lifetime_ms > 0 ? j->max_lifetime_ms : int64_t{365} * 86400000);
    }
    horizon = longest_for + longest_life;
  }
  return FireUntil(last + horizon);
}

}  // namespace cairn::flow
