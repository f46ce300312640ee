#include "flow/runtime.h"

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "cairn/time.h"
#include "cairn/v1/task.pb.h"
#include "flow/local_time.h"
#include "governance/governor.h"
#include "profile/eval_scope.h"
#include "profile/merge.h"

namespace cairn::flow {

std::string TaskJson(const v1::Task& t) {
  nlohmann::json j;
  j["task_id"] = t.task_id();
  j["customer_id"] = t.customer_id();
  j["journey"] = t.journey();
  j["version"] = t.version();
  j["instance"] = t.instance();
  j["step"] = t.step();
  j["iteration"] = t.iteration();
  j["channel"] = t.channel();
  j["template"] = t.template_();
  j["params"] = nlohmann::json::parse(t.params_json(), nullptr, false);
  j["created_at"] = FormatTimestamp(t.created_at_ms());
  j["entry_event"] = nlohmann::json::parse(t.entry_event_json(), nullptr, false);
  if (!t.arm().empty()) j["arm"] = t.arm();
  j["priority"] = t.priority();
  if (!t.consent().empty()) j["consent"] = t.consent();
  return j.dump();
}

using journey::Journey;
using journey::Step;
using journey::StepKind;
using profile::EvalScope;
using profile::EventValue;
using profile::EventView;

namespace {

constexpr int64_t kDefaultLifetimeMs = 365LL * 24 * 3600 * 1000;
constexpr uint32_t kTraceRing = 100;

uint64_t Fnv1a(std::string_view s, uint64_t h) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

uint64_t Mix(uint64_t x) {  // splitmix64 finaliser
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

// The customer's time zone: the `timezone` trait, else the journey's.
std::string ZoneOf(const EvalScope& scope, const Journey& j) {
  if (const auto tz = scope.Trait("timezone");
      tz.kind() == expr::Kind::kString && IsKnownZone(tz.string_value())) {
    return tz.string_value();
  }
  return j.timezone;
}

// A trait by dotted path ("membership.since"), as a string; empty if absent.
std::string TraitString(const EvalScope& scope, std::string_view path) {
  const size_t first = path.find('.');
  const expr::Value top = scope.Trait(path.substr(0, first));
  const expr::Value* v = top.is_null() ? nullptr : &top;
  path = first == std::string_view::npos ? std::string_view() : path.substr(first + 1);
  while (!path.empty() && v != nullptr) {
    const size_t dot = path.find('.');
    v = v->Find(path.substr(0, dot));
    path = dot == std::string_view::npos ? std::string_view() : path.substr(dot + 1);
  }
  if (v == nullptr) return {};
  if (v->kind() == expr::Kind::kString) return v->string_value();
  if (v->kind() == expr::Kind::kTimestamp) return FormatTimestamp(v->millis());
  return {};
}

// Sets a trait by dotted path ("loyalty.tier"), creating the objects on the
// way (a non-object in the way is replaced), so conditions read it back as
// traits.loyalty.tier.
void SetTraitPath(nlohmann::json& traits, std::string_view path, nlohmann::json value) {
  nlohmann::json* at = &traits;
  for (size_t dot = path.find('.'); dot != std::string_view::npos; dot = path.find('.')) {
    nlohmann::json& child = (*at)[std::string(path.substr(0, dot))];
    if (!child.is_object()) child = nlohmann::json::object();
    at = &child;
    path.remove_prefix(dot + 1);
  }
  (*at)[std::string(path)] = std::move(value);
}

// The value at a dotted path of a JSON object; null when absent.
nlohmann::json JsonAt(const nlohmann::json& object, std::string_view path) {
  const nlohmann::json* at = &object;
  for (;;) {
    const size_t dot = path.find('.');
    if (!at->is_object()) return nullptr;
    auto it = at->find(std::string(path.substr(0, dot)));
    if (it == at->end()) return nullptr;
    if (dot == std::string_view::npos) return *it;
    at = &*it;
    path.remove_prefix(dot + 1);
  }
}

const v1::EventStats* StatsOf(const v1::CustomerState& c, std::string_view name) {
  for (const auto& s : c.events()) {
    if (s.name() == name) return &s;
  }
  return nullptr;
}

}  // namespace

// One walk: everything the runtime does for one event or one timer of one
// customer. Holds the catalog snapshot and the lazily built scope.
class Walk {
 public:
  Walk(Runtime& rt, const Context& ctx, v1::CustomerState& c)
      : rt_(rt), ctx_(ctx), c_(c), catalog_(rt.catalog()), scope_(c, ctx.now) {
    if (catalog_ != nullptr) scope_.SetProfile(&catalog_->profile());
  }

  bool has_catalog() const { return catalog_ != nullptr; }
  const Catalog& catalog() const { return *catalog_; }

  void Event(const cairn::Event& e, const std::string* old_traits) {
    Reconcile();
    const EventView view = EventView::Of(e);
    current_event_ = &view;
    scope_.SetEvent(&view);
    RememberForLookback(view);

    // 1. The instances the customer is in: goals, exits, awaited events.
    for (size_t i = 0; i < static_cast<size_t>(c_.instances_size()); ++i) {
      OnInstanceEvent(i, view);
    }
    // 2. Entry triggers, indexed by event name.
    for (const Journey* j : catalog_->ByEvent(view.name)) {
      scope_.SetInstance(nullptr);
      std::string error;
      if (!scope_.Test(j->trigger.where, &error)) {
        if (!error.empty()) EvalError(*j, nullptr, "trigger", error);
        continue;
      }
      TryEnter(*j, view);
    }
    // 3. Trait changes (identify).
    if (old_traits != nullptr && catalog_->has_trait_triggers()) TraitChanges(e, *old_traits);
    // 4. Absence triggers on this event: make sure one timer is armed.
    for (const Journey* j : catalog_->AbsenceOf(view.name)) ArmAbsence(*j);
    // 5. Date triggers whose trait this identify may have moved.
    if (e.type == EventType::kIdentify) {
      for (const Journey* j : catalog_->date_journeys()) {
        if (e.traits_json.find(j->trigger.trait.substr(0, j->trigger.trait.find('.'))) !=
            std::string::npos) {
          ArmDate(*j, /*force=*/true);
        }
      }
    }
    Cleanup();
  }

  void Timer(const timer::Timer& t) {
    rt_.counters_.timers_fired++;
    v1::TimerPayload payload;
    if (!payload.ParseFromString(t.payload)) {
      rt_.counters_.stale_timers++;
      return;
    }
    Reconcile();
    switch (payload.kind()) {
      case v1::TimerPayload::STEP:
      case v1::TimerPayload::HOLD:
        InstanceTimer(payload, t);
        break;
      case v1::TimerPayload::ABSENCE:
        AbsenceTimer(payload.journey(), t.tag);
        break;
      case v1::TimerPayload::DATE:
        DateTimer(payload.journey(), t.tag);
        break;
      case v1::TimerPayload::PROFILE:
        profile::OnTimer(catalog_->profile(), ProfileContext(), c_, t);
        break;
      default:
        rt_.counters_.stale_timers++;
    }
    Cleanup();
  }

  bool Scheduled(const std::string& name, TimestampMs run_at) {
    const Journey* j = catalog_->Current(name);
    if (j == nullptr || j->trigger.kind != journey::TriggerKind::kSchedule) return false;
    Reconcile();
    if (EntriesOf(j->name).last_run_ms() >= run_at) return false;  // this run decided already
    const EventView v = CampaignStartedEvent(j->name, run_at);
    current_event_ = &v;
    scope_.SetEvent(&v);
    const uint64_t before = EntriesOf(j->name).entries();
    TryEnter(*j, v);
    auto& entries = EntriesOf(j->name);  // TryEnter may have grown the list
    entries.set_last_run_ms(run_at);
    scope_.SetEvent(nullptr);
    current_event_ = nullptr;
    Cleanup();
    return entries.entries() > before;
  }

 public:
  void Profile(const cairn::Event& e) {
    profile::OnEvent(catalog_->profile(), ProfileContext(), c_, e);
  }

  // Identity merge: see Runtime::OnMerged.
  void Merged(const v1::CustomerState& from, const std::vector<int>& moved) {
    profile::MergeProfiles(catalog_->profile(), *c_.mutable_profile(), from.profile(), ctx_.now);
    profile::Rederive(catalog_->profile(), ProfileContext(), c_);
    for (int i : moved) {
      auto& inst = *c_.mutable_instances(i);
      if (inst.done()) continue;
      if (inst.held()) {
        inst.set_wait_tag(AddTimer(ctx_.now + rt_.options_.hold_recheck_ms, v1::TimerPayload::HOLD,
                                   inst.journey(), inst.id()));
      } else if (inst.wait_due_ms() > 0) {
        inst.set_wait_tag(
            AddTimer(inst.wait_due_ms(), v1::TimerPayload::STEP, inst.journey(), inst.id()));
      }
    }
    Reconcile();
  }

  profile::Context ProfileContext() const {
    profile::Context p;
    p.partition = ctx_.partition;
    p.now = ctx_.now;
    p.sink = ctx_.effects;
    p.stats = ctx_.profile_stats;
    p.rfm_quantiles = ctx_.rfm_quantiles;
    p.events_topic = rt_.options_.events_topic;
    p.generation = catalog_ != nullptr ? catalog_->generation() : 0;
    return p;
  }

 private:
  // ---- trace and effects

  void Trace(const Journey* j, const v1::JourneyInstance* inst, std::string_view action,
             std::string reason, const Step* step = nullptr, std::string task_id = {}) {
    v1::TraceEntry e;
    e.set_at_ms(ctx_.now);
    e.set_customer(c_.id());
    if (j != nullptr) {
      e.set_journey(j->name);
      e.set_version(j->version);
    } else if (inst != nullptr) {  // its journey is no longer loaded
      e.set_journey(inst->journey());
      e.set_version(inst->version());
    }
    if (inst != nullptr) {
      e.set_instance(inst->id());
      if (step == nullptr && !inst->step_id().empty()) e.set_step(inst->step_id());
    }
    if (step != nullptr) {
      e.set_step(step->id);
      if (step->kind == StepKind::kSend) {
        e.set_channel(step->channel);
        e.set_template_name(step->template_name);
      }
    }
    e.set_action(std::string(action));
    e.set_reason(std::move(reason));
    e.set_task_id(std::move(task_id));
    e.set_seq(c_.next_trace_seq());
    c_.set_next_trace_seq(c_.next_trace_seq() + 1);
    ctx_.effects->Record(e);
  }

  void EvalError(const Journey& j, const v1::JourneyInstance* inst, std::string_view what,
                 const std::string& error) {
    rt_.counters_.eval_errors++;
    Trace(&j, inst, "error", fmt::format("{} condition failed to evaluate: {}", what, error));
  }

  uint64_t NextTag() {
    c_.set_next_timer_tag(c_.next_timer_tag() + 1);
    return c_.next_timer_tag();
  }

  // Adds a timer; never due at or before now (the firing pass owns those keys).
  uint64_t AddTimer(TimestampMs due, v1::TimerPayload::Kind kind, const std::string& journey,
                    uint64_t instance) {
    timer::Timer t;
    t.partition = ctx_.partition;
    t.due_ms = std::max(due, ctx_.now + 1);
    t.customer_id = c_.id();
    t.tag = NextTag();
    v1::TimerPayload p;
    p.set_kind(kind);
    p.set_journey(journey);
    p.set_instance(instance);
    p.SerializeToString(&t.payload);
    ctx_.effects->AddTimer(t);
    return t.tag;
  }

  // ---- catalog changes and versions

  // Arms absence/date timers for journeys loaded since this customer was
  // last seen, and forgets armed triggers of journeys that are gone.
  void Reconcile() {
    if (c_.catalog_generation() == catalog_->generation()) return;
    c_.set_catalog_generation(catalog_->generation());
    auto* armed = c_.mutable_armed();
    for (int i = armed->size() - 1; i >= 0; --i) {
      const Journey* j = catalog_->Current(armed->Get(i).journey());
      if (j == nullptr || (j->trigger.kind != journey::TriggerKind::kAbsence &&
                           j->trigger.kind != journey::TriggerKind::kDate)) {
        armed->DeleteSubrange(i, 1);
      }
    }
    for (const Journey* j : catalog_->absence_journeys()) {
      const v1::ArmedTrigger* a = FindArmed(j->name);
      const TimestampMs due = AbsenceSince(*j) + j->trigger.for_ms;
      if (a == nullptr) {
        ArmAbsence(*j);
      } else if (a->tag() != 0 && a->due_ms() > std::max(due, ctx_.now + 1)) {
        Arm(*j, due, v1::TimerPayload::ABSENCE);  // the reload shortened `for`
      }
    }
    // A reload may have moved the date (offset, at): ArmDate re-arms when the
    // due differs from the armed one.
    for (const Journey* j : catalog_->date_journeys()) ArmDate(*j, false);
  }

  // The definition an instance runs on, applying the current version's
  // policy to instances of older versions. nullptr: the instance was ended.
  const Journey* Definition(v1::JourneyInstance& inst) {
    const Journey* current = catalog_->Current(inst.journey());
    if (current != nullptr && current->version == inst.version()) return Anchor(current, inst);
    const Journey* own = catalog_->Version(inst.journey(), inst.version());
    if (current == nullptr) {
      if (own != nullptr) return Anchor(own, inst);  // unloaded: finish on its version
      Finish(nullptr, inst, "journey no longer loaded");
      return nullptr;
    }
    switch (current->on_new_version) {
      case journey::VersionPolicy::kPin:
        if (own != nullptr) return Anchor(own, inst);
        Finish(current, inst, fmt::format("version {} is no longer available", inst.version()));
        return nullptr;
      case journey::VersionPolicy::kExit:
        Finish(current, inst,
               fmt::format("version {} replaced by {} (on_new_version: exit)", inst.version(),
                           current->version));
        return nullptr;
      case journey::VersionPolicy::kMigrate: {
        auto it = current->migrate.find(inst.step_id());
        const int to = it == current->migrate.end() ? current->StepIndex(inst.step_id())
                                                    : current->StepIndex(it->second);
        if (inst.done()) {
          inst.set_version(current->version);
          return current;
        }
        if (to == journey::kNoStep) {
          Finish(current, inst,
                 fmt::format("step '{}' has no place in version {}", inst.step_id(),
                             current->version));
          return nullptr;
        }
        const uint32_t from = inst.version();
        const std::string from_step = inst.step_id();
        inst.set_version(current->version);
        inst.set_step(to);
        inst.set_step_id(current->steps[static_cast<size_t>(to)].id);
        const Step& landed = current->steps[static_cast<size_t>(to)];
        const TimestampMs due = inst.wait_due_ms();
        const bool waits = landed.kind == StepKind::kWait || landed.kind == StepKind::kWaitFor;
        Trace(current, &inst, "migrate",
              fmt::format("from version {} step '{}' to version {} step '{}'{}", from, from_step,
                          current->version, landed.id,
                          waits && due > 0
                              ? fmt::format(", keeping its due moment {}", FormatTimestamp(due))
                              : std::string()));
        if (waits && due > 0) {
          // A waiting customer keeps the moment it was waiting for: the
          // migration happens at their next touch, which must not move it.
          if (due > ctx_.now) {
            inst.set_wait_tag(AddTimer(due, v1::TimerPayload::STEP, current->name, inst.id()));
            return nullptr;
          }
          inst.set_wait_due_ms(0);
          inst.set_wait_tag(0);
          const bool wait_for = landed.kind == StepKind::kWaitFor;
          Trace(current, &inst, wait_for ? "timeout" : "waited",
                "its moment came before the migration", &landed);
          inst.set_step(wait_for ? landed.on_timeout : landed.next);
          OpenStep(*current, inst);
          return nullptr;
        }
        // Any other step starts now.
        inst.set_wait_due_ms(0);
        inst.set_wait_tag(0);
        OpenStep(*current, inst);
        return nullptr;
      }
    }
    return nullptr;
  }

  // A file edited without a version bump may have moved steps: an instance
  // is where its step id is.
  const Journey* Anchor(const Journey* j, v1::JourneyInstance& inst) {
    if (inst.done() || inst.step() == journey::kNoStep) return j;
    const auto idx = static_cast<size_t>(inst.step());
    if (idx < j->steps.size() && j->steps[idx].id == inst.step_id()) return j;
    const int found = j->StepIndex(inst.step_id());
    if (found == journey::kNoStep) {
      Finish(j, inst, fmt::format("step '{}' no longer exists", inst.step_id()));
      return nullptr;
    }
    inst.set_step(found);
    return j;
  }

  // ---- entering

  v1::JourneyEntries& EntriesOf(const std::string& name) {
    for (auto& e : *c_.mutable_journey_entries()) {
      if (e.journey() == name) return e;
    }
    auto* e = c_.add_journey_entries();
    e->set_journey(name);
    return *e;
  }

  bool ConsentAllows(const Journey& j, const std::string& channel, std::string* why) {
    auto it = j.consent.find(channel);
    if (it == j.consent.end()) {
      *why = fmt::format("no consent rule for {}", channel);
      return false;
    }
    const expr::Value consent = scope_.Trait("consent");
    const expr::Value* v = consent.Find(channel);
    const bool opted_in = v != nullptr && v->kind() == expr::Kind::kBool && v->bool_value();
    const bool opted_out = v != nullptr && v->kind() == expr::Kind::kBool && !v->bool_value();
    if (it->second == journey::ConsentMode::kExplicit && !opted_in) {
      *why = fmt::format("no consent for {} (explicit opt-in required)", channel);
      return false;
    }
    if (opted_out) {
      *why = fmt::format("opted out of {}", channel);
      return false;
    }
    return true;
  }

  void TryEnter(const Journey& j, const EventView& trigger) {
    if (j.paused) {
      Trace(&j, nullptr, "skip", "journey paused: no new entries");
      return;
    }
    auto& entries = EntriesOf(j.name);
    if (entries.entries() > 0) {
      if (j.entry.reentry == journey::Reentry::kNever) {
        Trace(&j, nullptr, "skip", "already entered once (reentry: never)");
        return;
      }
      if (j.entry.reentry == journey::Reentry::kAfter &&
          ctx_.now < entries.last_entered_ms() + j.entry.reentry_after_ms) {
        Trace(&j, nullptr, "skip",
              fmt::format("entered {} ago (reentry after {})",
                          FormatDurationMs(ctx_.now - entries.last_entered_ms()),
                          FormatDurationMs(j.entry.reentry_after_ms)));
        return;
      }
    }
    uint32_t active = 0;
    for (const auto& inst : c_.instances()) {
      if (inst.journey() == j.name && !inst.done()) ++active;
    }
    if (active >= j.entry.max_concurrent) {
      Trace(&j, nullptr, "skip",
            fmt::format("already in the journey (max_concurrent {})", j.entry.max_concurrent));
      return;
    }
    if (static_cast<uint32_t>(c_.instances_size()) >= rt_.options_.max_instances) {
      Trace(&j, nullptr, "skip", "too many journey instances for this customer");
      return;
    }
    scope_.SetInstance(nullptr);
    std::string error;
    if (!scope_.Test(j.audience, &error)) {
      if (!error.empty()) {
        EvalError(j, nullptr, "who", error);
      } else {
        Trace(&j, nullptr, "skip", fmt::format("not in the audience: {}", j.audience.source));
      }
      return;
    }
    if (!j.consent.empty()) {
      bool any = false;
      std::string why;
      for (const auto& [channel, mode] : j.consent) any = any || ConsentAllows(j, channel, &why);
      if (!any) {
        Trace(&j, nullptr, "skip", "no consent on any channel the journey uses");
        return;
      }
    }
    entries.set_entries(entries.entries() + 1);
    entries.set_last_entered_ms(ctx_.now);
    auto* inst = c_.add_instances();
    inst->set_journey(j.name);
    inst->set_version(j.version);
    inst->set_id(entries.entries());
    inst->set_entered_at_ms(ctx_.now);
    inst->set_expires_at_ms(ctx_.now +
                            (j.max_lifetime_ms > 0 ? j.max_lifetime_ms : kDefaultLifetimeMs));
    inst->set_entry_json(trigger.ToEntryJson());
    if (j.goal) inst->set_goal_deadline_ms(ctx_.now + j.goal->within_ms);
    inst->set_step(j.steps.empty() ? journey::kNoStep : 0);
    rt_.counters_.entered++;
    Trace(&j, inst, "enter",
          fmt::format("{} at {}", trigger.name, FormatTimestamp(trigger.timestamp_ms)));
    OpenStep(j, *inst);
  }

  // ---- walking

  // Runs `inst` from its current step until it waits or ends.
  void OpenStep(const Journey& j, v1::JourneyInstance& inst) {
    scope_.SetInstance(&inst);
    for (size_t n = 0; n < rt_.options_.max_steps_per_walk; ++n) {
      if (inst.step() == journey::kNoStep) {
        Finish(&j, inst, "completed");
        return;
      }
      if (ctx_.now >= inst.expires_at_ms()) {
        Finish(&j, inst, "max_lifetime reached");
        return;
      }
      const Step& step = j.steps[static_cast<size_t>(inst.step())];
      inst.set_step_id(step.id);
      inst.set_step_since_ms(ctx_.now);
      int next = step.next;
      switch (step.kind) {
        case StepKind::kSend:
          if (!Send(j, inst, step)) return;  // deferred by governance
          break;
        case StepKind::kWait: {
          TimestampMs due = ctx_.now + step.wait_ms;
          if (!step.until_trait.empty()) {
            const auto at = DateInstant(TraitString(scope_, step.until_trait), step.at_minute,
                                        ZoneOf(scope_, j), step.until_offset_ms);
            if (!at) {
              Trace(&j, &inst, "skip",
                    fmt::format("trait {} is not a date; not waiting", step.until_trait), &step);
              break;
            }
            due = *at;
          } else if (step.at_minute >= 0) {
            due = NextLocalTime(due, step.at_minute, ZoneOf(scope_, j));
          }
          if (due <= ctx_.now) {
            Trace(&j, &inst, "wait", "already due", &step);
            break;
          }
          if (due > inst.expires_at_ms()) {
            Finish(&j, inst,
                   fmt::format("wait until {} is past max_lifetime", FormatTimestamp(due)));
            return;
          }
          Wait(j, inst, step, due, fmt::format("until {}", FormatTimestamp(due)));
          return;
        }
        case StepKind::kWaitFor: {
          if (auto found = LookBack(j, inst, step)) {
            Trace(&j, &inst, "arrived",
                  fmt::format("{} at {}, {} before the step opened (look-back {})",
                              step.awaited.event, FormatTimestamp(found->timestamp_ms()),
                              FormatDurationMs(ctx_.now - found->timestamp_ms()),
                              FormatDurationMs(step.lookback_ms)),
                  &step);
            next = step.on_event;
            break;
          }
          const TimestampMs due = ctx_.now + step.timeout_ms;
          Wait(j, inst, step, due,
               fmt::format("for {} until {}", step.awaited.event, FormatTimestamp(due)));
          return;
        }
        case StepKind::kBranch: {
          next = step.next;
          std::string reason = "else";
          for (const auto& c : step.cases) {
            std::string error;
            if (scope_.Test(c.when, &error)) {
              next = c.next;
              reason = fmt::format("if {}", c.when.source);
              break;
            }
            if (!error.empty()) EvalError(j, &inst, "branch", error);
          }
          Trace(
              &j, &inst, "branch",
              fmt::format("{} -> {}", reason, next == journey::kNoStep ? "exit" : j.steps[next].id),
              &step);
          break;
        }
        case StepKind::kSplit: {
          const uint32_t bucket = Runtime::SplitBucket(c_.id(), j.name, step.id);
          uint32_t acc = 0;
          const journey::SplitArm* arm = step.arms.empty() ? nullptr : &step.arms.back();
          for (const auto& a : step.arms) {
            acc += a.weight;
            if (bucket < acc) {
              arm = &a;
              break;
            }
          }
          if (arm == nullptr) break;
          inst.set_arm(arm->name);
          if (arm->holdout) {
            Trace(&j, &inst, "holdout",
                  fmt::format("arm {} ({}%): sends nothing, conversions still measured", arm->name,
                              arm->weight),
                  &step);
            Finish(&j, inst, "holdout");
            return;
          }
          Trace(&j, &inst, "split", fmt::format("arm {} ({}%)", arm->name, arm->weight), &step);
          next = arm->next;
          break;
        }
        case StepKind::kUpdate:
          Update(j, inst, step);
          break;
        case StepKind::kEmit:
          Emit(j, inst, step);
          break;
        case StepKind::kGoto: {
          uint32_t& taken = (*inst.mutable_loops())[inst.step()];
          if (taken < step.max_loops) {
            ++taken;
            inst.set_iteration(inst.iteration() + 1);
            next = step.goto_step;
            Trace(&j, &inst, "goto",
                  fmt::format("to {} ({} of {})", j.steps[next].id, taken, step.max_loops), &step);
          } else {
            Trace(&j, &inst, "goto", fmt::format("loop limit reached ({})", step.max_loops), &step);
          }
          break;
        }
        case StepKind::kExit:
          Finish(&j, inst, step.exit_reason.empty() ? "exit step" : step.exit_reason, &step);
          return;
      }
      inst.set_step(next);
    }
    Finish(&j, inst, "too many steps in one walk (runaway loop?)");
  }

  void Wait(const Journey& j, v1::JourneyInstance& inst, const Step& step, TimestampMs due,
            std::string reason) {
    // A wait_for may outlast max_lifetime: the instance ends then, not later.
    due = std::min(due, inst.expires_at_ms());
    inst.set_wait_due_ms(due);
    inst.set_wait_tag(AddTimer(due, v1::TimerPayload::STEP, j.name, inst.id()));
    Trace(&j, &inst, step.kind == StepKind::kWaitFor ? "wait_for" : "wait", std::move(reason),
          &step);
  }

  std::optional<v1::RecentEvent> LookBack(const Journey& j, const v1::JourneyInstance& inst,
                                          const Step& step) {
    if (step.lookback_ms <= 0) return std::nullopt;
    // Newest first: the most recent qualifying event wins.
    for (int i = c_.lookback_size() - 1; i >= 0; --i) {
      // The event in hand started or moved this instance: it did not arrive
      // before the step it opened.
      if (i == current_lookback_) continue;
      const auto& r = c_.lookback(i);
      if (r.name() != step.awaited.event || r.timestamp_ms() < ctx_.now - step.lookback_ms ||
          r.timestamp_ms() > ctx_.now) {
        continue;
      }
      EventView v;
      v.name = r.name();
      v.timestamp_ms = r.timestamp_ms();
      v.properties_json = r.properties_json();
      scope_.SetEvent(&v);
      std::string error;
      const bool ok = scope_.Test(step.awaited.where, &error);
      scope_.SetEvent(current_event_);
      if (!error.empty()) EvalError(j, &inst, "wait_for", error);
      if (ok) return r;
    }
    return std::nullopt;
  }

  // Governance (docs/governance.md): suppression, holdout, quiet hours, caps.
  // A skip or deferral is traced here; a deferred send waits at its step.
  governance::Verdict Govern(const Journey& j, v1::JourneyInstance& inst, const Step& step) {
    const governance::Policy& policy = catalog_->profile().governance;
    const governance::SendRequest req{
        j.name,
        inst.id(),
        step.id,
        inst.iteration(),
        step.channel,
        j.priority,
        step.transactional < 0 ? j.transactional : step.transactional == 1,
        j.on_cap,
        j.max_deferral_ms};
    const governance::Decision d = governance::Decide(policy, c_, req, ctx_.now);
    governance::Apply(policy, c_, req, d, ctx_.now);
    rt_.counters_.governance.Count(d);
    if (d.verdict == governance::Verdict::kSkip) Trace(&j, &inst, "skip", d.text, &step);
    if (d.verdict == governance::Verdict::kDefer) {
      const TimestampMs due = std::min(d.until, inst.expires_at_ms());
      inst.set_wait_due_ms(due);
      inst.set_wait_tag(AddTimer(due, v1::TimerPayload::STEP, j.name, inst.id()));
      Trace(&j, &inst, "defer", d.text, &step);
    }
    return d.verdict;
  }

  // false: deferred (the instance waits at the step); true: sent or skipped.
  bool Send(const Journey& j, v1::JourneyInstance& inst, const Step& step) {
    std::string why;
    if (!ConsentAllows(j, step.channel, &why)) {
      Trace(&j, &inst, "skip", why, &step);
      return true;
    }
    switch (Govern(j, inst, step)) {
      case governance::Verdict::kSend:
        break;
      case governance::Verdict::kSkip:
        return true;
      case governance::Verdict::kDefer:
        return false;
    }
    const std::string id =
        Runtime::TaskId(j.name, j.version, c_.id(), inst.id(), step.id, inst.iteration());
    v1::Task task;
    task.set_task_id(id);
    task.set_customer_id(c_.id());
    task.set_journey(j.name);
    task.set_version(j.version);
    task.set_instance(inst.id());
    task.set_step(step.id);
    task.set_iteration(inst.iteration());
    task.set_channel(step.channel);
    task.set_template_(step.template_name);
    task.set_params_json(step.params_json);
    task.set_created_at_ms(ctx_.now);
    task.set_entry_event_json(inst.entry_json());
    task.set_arm(inst.arm());
    task.set_priority(j.priority);
    if (auto c = j.consent.find(step.channel); c != j.consent.end()) {
      task.set_consent(c->second == journey::ConsentMode::kExplicit ? "explicit" : "implied");
    }
    ctx_.effects->Dispatch(task);
    v1::OutboxRecord rec;
    rec.set_topic(rt_.options_.tasks_topic);
    rec.set_key(c_.id());
    (*rec.mutable_headers())["cairn.task_id"] = id;
    if (rt_.options_.tasks_protobuf) {
      (*rec.mutable_headers())["content-type"] = "application/x-protobuf;messageType=cairn.v1.Task";
      rec.set_value(task.SerializeAsString());
    } else {
      (*rec.mutable_headers())["content-type"] = "application/json";
      rec.set_value(TaskJson(task));
    }
    ctx_.effects->Publish(rec);
    rt_.counters_.sends++;
    Trace(&j, &inst, "send", "", &step, id);
    return true;
  }

  void Update(const Journey& j, v1::JourneyInstance& inst, const Step& step) {
    nlohmann::json traits = c_.traits_json().empty()
                                ? nlohmann::json::object()
                                : nlohmann::json::parse(c_.traits_json(), nullptr, false);
    if (!traits.is_object()) traits = nlohmann::json::object();
    std::vector<std::string> changed;
    for (const auto& u : step.set_traits) {
      if (!u.literal_json.empty()) {
        SetTraitPath(traits, u.trait, nlohmann::json::parse(u.literal_json, nullptr, false));
      } else {
        auto r = u.value.program.Eval(scope_);
        if (!r.ok()) {
          EvalError(j, &inst, "update", r.status().message());
          continue;
        }
        SetTraitPath(traits, u.trait, nlohmann::json::parse(r.value().ToJson(), nullptr, false));
      }
      changed.push_back(u.trait);
    }
    c_.set_traits_json(traits.dump());
    for (const auto& l : step.add_labels) {
      if (std::find(c_.labels().begin(), c_.labels().end(), l) == c_.labels().end()) {
        c_.add_labels(l);
        changed.push_back("+" + l);
      }
    }
    for (const auto& l : step.remove_labels) {
      auto* labels = c_.mutable_labels();
      auto it = std::find(labels->begin(), labels->end(), l);
      if (it != labels->end()) {
        labels->erase(it);
        changed.push_back("-" + l);
      }
    }
    scope_.InvalidateCustomer();
    Trace(&j, &inst, "update", fmt::format("{}", fmt::join(changed, ", ")), &step);
  }

  void Emit(const Journey& j, v1::JourneyInstance& inst, const Step& step) {
    // A deterministic messageId: a re-published copy is dropped by the
    // customer's dedup window when it comes back.
    const std::string id =
        Runtime::TaskId(j.name, j.version, c_.id(), inst.id(), step.id + "#emit", inst.iteration());
    const nlohmann::json context = {
        {"cairn", {{"journey", j.name}, {"version", j.version}, {"step", step.id}}}};
    ctx_.effects->Publish(profile::EventRecord(rt_.options_.events_topic, c_.id(), step.emit_event,
                                               id, ctx_.now, step.emit_properties_json,
                                               context.dump()));
    Trace(&j, &inst, "emit", step.emit_event, &step);
  }

  void Finish(const Journey* j, v1::JourneyInstance& inst, std::string reason,
              const Step* step = nullptr) {
    if (inst.done()) return;
    inst.set_done(true);
    inst.set_step(journey::kNoStep);
    inst.set_wait_due_ms(0);
    inst.set_wait_tag(0);
    inst.set_held(false);
    rt_.counters_.exits++;
    Trace(j, &inst, "exit", std::move(reason), step);
  }

  // ---- events for instances

  void OnInstanceEvent(size_t index, const EventView& e) {
    v1::JourneyInstance& inst = *c_.mutable_instances(static_cast<int>(index));
    if (inst.done() && (inst.goal_reached() || ctx_.now > inst.goal_deadline_ms())) return;
    const Journey* j = catalog_->Current(inst.journey());
    if (j == nullptr || j->version != inst.version()) {
      const Journey* own = catalog_->Version(inst.journey(), inst.version());
      if (inst.done()) {
        j = own != nullptr ? own : j;
      } else {
        j = Definition(inst);
      }
      if (j == nullptr) return;
    }
    scope_.SetInstance(&inst);
    // Goal: measured for every instance in its window, also after exit and
    // in the holdout arm (that is what makes the uplift measurable).
    if (j->goal && !inst.goal_reached() && ctx_.now <= inst.goal_deadline_ms() &&
        e.name == j->goal->match.event) {
      std::string error;
      if (scope_.Test(j->goal->match.where, &error)) {
        inst.set_goal_reached(true);
        rt_.counters_.goals++;
        Trace(j, &inst, "goal",
              fmt::format("{} {} after entry", e.name,
                          FormatDurationMs(ctx_.now - inst.entered_at_ms())));
      } else if (!error.empty()) {
        EvalError(*j, &inst, "goal", error);
      }
    }
    if (inst.done()) return;
    if (ctx_.now >= inst.expires_at_ms()) {
      Finish(j, inst, "max_lifetime reached");
      return;
    }
    for (const auto& x : j->exit_when) {
      if (x.event != e.name) continue;
      std::string error;
      if (scope_.Test(x.where, &error)) {
        Finish(j, inst, fmt::format("exit_when: {}", e.name));
        return;
      }
      if (!error.empty()) EvalError(*j, &inst, "exit_when", error);
    }
    if (inst.step() < 0 || inst.step() >= static_cast<int>(j->steps.size())) return;
    const Step& step = j->steps[static_cast<size_t>(inst.step())];
    if (step.kind != StepKind::kWaitFor || step.awaited.event != e.name || inst.held()) return;
    std::string error;
    if (!scope_.Test(step.awaited.where, &error)) {
      if (!error.empty()) EvalError(*j, &inst, "wait_for", error);
      return;
    }
    // Paused is the current version's switch, also for instances pinned to
    // an older one (as for their timers).
    const Journey* current = catalog_->Current(j->name);
    if (current != nullptr ? current->paused : j->paused) {
      // Hold it: the instance moves on once the journey is resumed.
      inst.set_held_event_json(e.ToEntryJson());
      inst.set_held(true);
      inst.set_wait_tag(AddTimer(ctx_.now + rt_.options_.hold_recheck_ms, v1::TimerPayload::HOLD,
                                 j->name, inst.id()));
      Trace(j, &inst, "hold", fmt::format("{} arrived while the journey is paused", e.name));
      return;
    }
    Trace(j, &inst, "arrived", e.name, &step);
    inst.set_wait_due_ms(0);
    inst.set_wait_tag(0);
    inst.set_step(step.on_event);
    OpenStep(*j, inst);
  }

  void RememberForLookback(const EventView& e) {
    const int64_t keep_ms = catalog_->LookbackFor(e.name);
    auto* lb = c_.mutable_lookback();
    // Drop what no look-back window can reach any more.
    const int64_t horizon = ctx_.now - catalog_->max_lookback_ms();
    while (!lb->empty() && (lb->Get(0).timestamp_ms() < horizon ||
                            static_cast<size_t>(lb->size()) >= rt_.options_.lookback_keep)) {
      lb->DeleteSubrange(0, 1);
    }
    if (keep_ms <= 0) return;
    auto* r = lb->Add();
    r->set_name(e.name);
    r->set_timestamp_ms(e.timestamp_ms);
    r->set_properties_json(e.properties_json);
    current_lookback_ = lb->size() - 1;
  }

  // ---- timers

  v1::JourneyInstance* FindInstance(const std::string& journey, uint64_t id) {
    for (auto& inst : *c_.mutable_instances()) {
      if (inst.journey() == journey && inst.id() == id) return &inst;
    }
    return nullptr;
  }

  void InstanceTimer(const v1::TimerPayload& p, const timer::Timer& t) {
    v1::JourneyInstance* inst = FindInstance(p.journey(), p.instance());
    if (inst == nullptr || inst->done() || inst->wait_tag() != t.tag) {
      rt_.counters_.stale_timers++;
      return;
    }
    const Journey* j = Definition(*inst);
    if (j == nullptr) return;  // ended or migrated (and walked) by the version policy
    if (ctx_.now >= inst->expires_at_ms()) {  // also when held by a pause
      Finish(j, *inst, "max_lifetime reached");
      return;
    }
    scope_.SetInstance(inst);
    const Journey* current = catalog_->Current(j->name);
    const bool paused = current != nullptr ? current->paused : j->paused;
    if (paused) {
      if (!inst->held()) Trace(j, inst, "hold", "due while the journey is paused");
      inst->set_held(true);
      inst->set_wait_tag(AddTimer(ctx_.now + rt_.options_.hold_recheck_ms, v1::TimerPayload::HOLD,
                                  j->name, inst->id()));
      return;
    }
    if (inst->step() < 0 || inst->step() >= static_cast<int>(j->steps.size())) return;
    const Step& step = j->steps[static_cast<size_t>(inst->step())];
    const bool resumed = inst->held();
    inst->set_held(false);
    if (!inst->held_event_json().empty()) {
      const std::string held = inst->held_event_json();
      inst->clear_held_event_json();
      Trace(j, inst, "arrived", fmt::format("{} (held while paused)", step.awaited.event), &step);
      inst->set_step(step.on_event);
    } else if (ctx_.now < inst->wait_due_ms()) {
      // Resumed before the wait was over: wait the rest.
      inst->set_wait_tag(
          AddTimer(inst->wait_due_ms(), v1::TimerPayload::STEP, j->name, inst->id()));
      Trace(j, inst, "resume",
            fmt::format("journey resumed; waiting until {}", FormatTimestamp(inst->wait_due_ms())));
      return;
    } else if (step.kind == StepKind::kSend) {  // deferred by governance: ask again
      inst->set_wait_due_ms(0);
      inst->set_wait_tag(0);
      OpenStep(*j, *inst);
      return;
    } else if (step.kind == StepKind::kWaitFor) {
      Trace(j, inst, "timeout",
            fmt::format("no {} within {}{}", step.awaited.event, FormatDurationMs(step.timeout_ms),
                        resumed ? " (held while paused)" : ""),
            &step);
      inst->set_step(step.on_timeout);
    } else {
      Trace(j, inst, "waited", resumed ? "held while paused" : "", &step);
      inst->set_step(step.next);
    }
    inst->set_wait_due_ms(0);
    inst->set_wait_tag(0);
    OpenStep(*j, *inst);
  }

  v1::ArmedTrigger* FindArmed(const std::string& journey) {
    for (auto& a : *c_.mutable_armed()) {
      if (a.journey() == journey) return &a;
    }
    return nullptr;
  }

  void Arm(const Journey& j, TimestampMs due, v1::TimerPayload::Kind kind) {
    v1::ArmedTrigger* a = FindArmed(j.name);
    if (a == nullptr) {
      a = c_.add_armed();
      a->set_journey(j.name);
    }
    a->set_due_ms(std::max(due, ctx_.now + 1));
    a->set_tag(AddTimer(due, kind, j.name, 0));
  }

  void Disarm(const std::string& journey) {
    auto* armed = c_.mutable_armed();
    for (int i = 0; i < armed->size(); ++i) {
      if (armed->Get(i).journey() == journey) {
        armed->DeleteSubrange(i, 1);
        return;
      }
    }
  }

  // When the absence of j's event began: its last occurrence, else the
  // customer's first sight.
  TimestampMs AbsenceSince(const Journey& j) {
    const v1::EventStats* s = StatsOf(c_, j.trigger.event);
    return s != nullptr && s->count() > 0 ? s->last_at_ms() : c_.first_seen_ms();
  }

  // An absence trigger's ArmedTrigger is either armed (a timer's tag) or, once
  // it fired, a marker with tag 0 and the due it fired for: the silence is
  // over for it, and only a later occurrence of the event (a later due)
  // arms it again, not a reload or another event.
  void ArmAbsence(const Journey& j) {
    const TimestampMs due = AbsenceSince(j) + j.trigger.for_ms;
    if (const v1::ArmedTrigger* a = FindArmed(j.name)) {
      if (a->tag() != 0) return;       // armed: fires early, then re-arms itself
      if (due <= a->due_ms()) return;  // this silence already fired
    }
    Arm(j, due, v1::TimerPayload::ABSENCE);
  }

  void AbsenceTimer(const std::string& journey, uint64_t tag) {
    v1::ArmedTrigger* a = FindArmed(journey);
    const Journey* j = catalog_->Current(journey);
    if (a == nullptr || a->tag() != tag || j == nullptr) {
      rt_.counters_.stale_timers++;
      return;
    }
    const TimestampMs due = AbsenceSince(*j) + j->trigger.for_ms;
    if (due > ctx_.now) {  // the event happened since: wait for the new silence
      Arm(*j, due, v1::TimerPayload::ABSENCE);
      return;
    }
    a->set_tag(0);  // fired for this silence; the next occurrence of the event re-arms
    a->set_due_ms(due);
    EventView v;
    v.name = "Absence Detected";
    v.timestamp_ms = ctx_.now;
    nlohmann::json props = {{"event", j->trigger.event},
                            {"since", FormatTimestamp(AbsenceSince(*j))},
                            {"for", FormatDurationMs(j->trigger.for_ms)}};
    v.properties_json = props.dump();
    scope_.SetEvent(&v);
    TryEnter(*j, v);
  }

  std::optional<TimestampMs> NextDate(const Journey& j) {
    const std::string value = TraitString(scope_, j.trigger.trait);
    if (value.empty()) return std::nullopt;
    const std::string tz = ZoneOf(scope_, j);
    if (j.trigger.yearly) {
      return NextAnniversary(value, j.trigger.at_minute, j.trigger.offset_ms, tz, ctx_.now);
    }
    return DateInstant(value, j.trigger.at_minute, tz, j.trigger.offset_ms);
  }

  void ArmDate(const Journey& j, bool force) {
    const auto due = NextDate(j);
    v1::ArmedTrigger* a = FindArmed(j.name);
    if (!due || *due < ctx_.now) {
      if (a != nullptr && force) Disarm(j.name);
      return;
    }
    if (a != nullptr && a->due_ms() == std::max(*due, ctx_.now + 1)) return;
    Arm(j, *due, v1::TimerPayload::DATE);
  }

  void DateTimer(const std::string& journey, uint64_t tag) {
    v1::ArmedTrigger* a = FindArmed(journey);
    const Journey* j = catalog_->Current(journey);
    if (a == nullptr || a->tag() != tag || j == nullptr) {
      rt_.counters_.stale_timers++;
      return;
    }
    const TimestampMs armed_for = a->due_ms();
    Disarm(journey);
    EventView v;
    v.name = "Date Reached";
    v.timestamp_ms = ctx_.now;
    nlohmann::json props = {{"trait", j->trigger.trait},
                            {"value", TraitString(scope_, j->trigger.trait)},
                            {"due", FormatTimestamp(armed_for)}};
    v.properties_json = props.dump();
    scope_.SetEvent(&v);
    TryEnter(*j, v);
    if (j->trigger.yearly) {
      if (auto next = NextAnniversary(TraitString(scope_, j->trigger.trait), j->trigger.at_minute,
                                      j->trigger.offset_ms, ZoneOf(scope_, *j), ctx_.now + 1)) {
        Arm(*j, *next, v1::TimerPayload::DATE);
      }
    }
  }

  // ---- trait changes

  void TraitChanges(const cairn::Event& e, const std::string& old_traits_json) {
    auto incoming = nlohmann::json::parse(e.traits_json, nullptr, false);
    if (!incoming.is_object()) return;
    auto old_traits =
        nlohmann::json::parse(old_traits_json.empty() ? "{}" : old_traits_json, nullptr, false);
    if (!old_traits.is_object()) old_traits = nlohmann::json::object();
    for (const auto& [key, value] : incoming.items()) {
      // Journeys watching this trait or a path below it ("loyalty.tier").
      for (const Journey* j : catalog_->ByTrait(key)) {
        const std::string& trait = j->trigger.trait;
        const nlohmann::json old_value = JsonAt(old_traits, trait);
        const nlohmann::json new_value = JsonAt(incoming, trait);
        if (old_value == new_value) continue;
        scope_.SetChange(trait, expr::Value::FromJson(old_value.dump()),
                         expr::Value::FromJson(new_value.dump()));
        scope_.SetInstance(nullptr);
        std::string error;
        if (!scope_.Test(j->trigger.where, &error)) {
          if (!error.empty()) EvalError(*j, nullptr, "trigger", error);
          continue;
        }
        EventView v = EventView::Of(e);
        v.name = "Trait Changed";
        v.properties_json =
            nlohmann::json{{"trait", trait}, {"old", old_value}, {"new", new_value}}.dump();
        TryEnter(*j, v);
      }
    }
  }

  // Forgets finished instances whose goal window has closed.
  void Cleanup() {
    auto* list = c_.mutable_instances();
    for (int i = list->size() - 1; i >= 0; --i) {
      const auto& inst = list->Get(i);
      if (inst.done() && (inst.goal_reached() || ctx_.now > inst.goal_deadline_ms())) {
        list->DeleteSubrange(i, 1);
      }
    }
  }

  Runtime& rt_;
  const Context& ctx_;
  v1::CustomerState& c_;
  std::shared_ptr<const Catalog> catalog_;
  EvalScope scope_;
  const EventView* current_event_ = nullptr;
  int current_lookback_ = -1;  // the current event's record in c_.lookback(), if kept
};

Runtime::Runtime(RuntimeOptions options) : options_(std::move(options)) {}

void Runtime::SetCatalog(std::shared_ptr<const Catalog> catalog) {
  std::atomic_store(&catalog_, std::move(catalog));
}

std::shared_ptr<const Catalog> Runtime::catalog() const { return std::atomic_load(&catalog_); }

void Runtime::OnEvent(const Context& ctx, v1::CustomerState& customer, const Event& event,
                      const std::string* old_traits_json) {
  Walk walk(*this, ctx, customer);
  if (!walk.has_catalog()) return;
  // The profile stage first: journeys see the computed traits, stage and
  // segments this event made.
  walk.Profile(event);
  walk.Event(event, old_traits_json);
}

void Runtime::OnMerged(const Context& ctx, v1::CustomerState& customer,
                       const v1::CustomerState& from, const std::vector<int>& moved) {
  Walk walk(*this, ctx, customer);
  if (!walk.has_catalog()) return;
  walk.Merged(from, moved);
}

void Runtime::OnMergedAway(const Context& ctx, v1::CustomerState& customer) {
  Walk walk(*this, ctx, customer);
  if (!walk.has_catalog()) return;
  profile::Forget(walk.catalog().profile(), walk.ProfileContext(), customer);
}

bool Runtime::EnterScheduled(const Context& ctx, v1::CustomerState& customer,
                             const std::string& journey, TimestampMs run_at_ms) {
  Walk walk(*this, ctx, customer);
  if (!walk.has_catalog()) return false;
  return walk.Scheduled(journey, run_at_ms);
}

profile::EventView CampaignStartedEvent(std::string_view journey, TimestampMs run_at_ms) {
  EventView v;
  v.name = "Campaign Started";
  v.timestamp_ms = run_at_ms;
  v.message_id = fmt::format("campaign:{}:{}", journey, run_at_ms);
  v.properties_json =
      nlohmann::json{{"journey", journey}, {"run_at", FormatTimestamp(run_at_ms)}}.dump();
  return v;
}

void Runtime::OnTimer(const Context& ctx, v1::CustomerState& customer, const timer::Timer& t) {
  Walk walk(*this, ctx, customer);
  if (!walk.has_catalog()) return;
  walk.Timer(t);
}

std::string Runtime::TaskId(std::string_view journey, uint32_t version, std::string_view customer,
                            uint64_t instance, std::string_view step, uint32_t iteration) {
  std::string key = fmt::format("{}\x1f{}\x1f{}\x1f{}\x1f{}\x1f{}", journey, version, customer,
                                instance, step, iteration);
  const uint64_t a = Mix(Fnv1a(key, 0xcbf29ce484222325ULL));
  const uint64_t b = Mix(Fnv1a(key, 0x84222325cbf29ce4ULL) ^ a);
  return fmt::format("{:016x}{:016x}", a, b);
}

uint32_t Runtime::SplitBucket(std::string_view customer, std::string_view journey,
                              std::string_view step) {
  std::string key = fmt::format("{}\x1f{}\x1f{}", customer, journey, step);
  return static_cast<uint32_t>(Mix(Fnv1a(key, 0xcbf29ce484222325ULL)) % 100);
}

}  // namespace cairn::flow
