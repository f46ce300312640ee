// Governance in the journey runtime's send step, on a fake wall clock:
// caps over generated streams (brute-force checked), quiet hours across DST
// changes and +-2 h clock jumps, priority arbitration, the global holdout and
// the suppression list.
#include <date/tz.h>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "cairn/time.h"
#include "gov_host.h"
#include "governance/governor.h"
#include "test_support.h"

namespace cairn::governance::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// A journey that sends one message on `event`.
std::string OneSend(const std::string& name, int priority, const std::string& channel,
                    const std::string& event, const std::string& extra = "") {
  return fmt::format(R"(
journey: {0}
version: 1
priority: {1}
{4}
when:
  event: {3}
who:
  consent: {{ {2}: implied }}
entry:
  reentry: always
  max_concurrent: 20
steps:
  - id: msg
    send: {{ channel: {2}, template: t-{0} }}
)",
                     name, priority, channel, event, extra);
}

// A deterministic pseudo-random sequence.
struct Lcg {
  uint64_t s;
  uint64_t Next() {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    return s >> 33;
  }
  int64_t Below(int64_t n) { return static_cast<int64_t>(Next() % static_cast<uint64_t>(n)); }
};

// ---- caps

constexpr const char* kCapsPolicy = R"(
governance:
  caps:
    - { channel: any, max: 3, per: 7d }
    - { channel: sms, max: 1, per: 1d }
    - { channel: email, max: 2, per: 2d }
  max_deferral: 4d
)";

struct CapRule {
  std::string channel;  // empty: any
  size_t max;
  int64_t per;
};
const std::vector<CapRule> kCapRules = {
    {"", 3, 7 * kDay}, {"sms", 1, kDay}, {"email", 2, 2 * kDay}};

std::vector<std::string> CapsJourneys() {
  return {OneSend("promo-low", 10, "email", "Browse"),
          OneSend("promo-mid", 50, "sms", "Cart", "on_cap: skip"),
          OneSend("promo-high", 90, "push", "Price Drop"),
          OneSend("promo-mail", 70, "email", "Wishlist", "max_deferral: 1d"),
          OneSend("receipt", 20, "email", "Order", "transactional: true")};
}

// Brute force: for every marketing task, the tasks emitted before it (and
// itself) whose time is within the window ending at it, per cap. With a
// monotonic clock this is the sliding-window count; after a backward jump
// the earlier-emitted "future" ones count too (as the governor does).
size_t CapViolations(const std::vector<v1::Task>& tasks, std::string* first) {
  size_t violations = 0;
  std::map<std::string, std::vector<const v1::Task*>> by_customer;
  for (const auto& t : tasks) {
    if (t.journey() != "receipt") by_customer[t.customer_id()].push_back(&t);
  }
  for (const auto& [customer, list] : by_customer) {
    for (size_t i = 0; i < list.size(); ++i) {
      for (const auto& cap : kCapRules) {
        if (!cap.channel.empty() && list[i]->channel() != cap.channel) continue;
        size_t n = 0;
        for (size_t k = 0; k <= i; ++k) {
          if ((cap.channel.empty() || list[k]->channel() == cap.channel) &&
              list[k]->created_at_ms() > list[i]->created_at_ms() - cap.per) {
            ++n;
          }
        }
        if (n > cap.max) {
          if (violations++ == 0) {
            *first =
                fmt::format("{} {} {} at {}: {} in window of cap {} {}", customer,
                            list[i]->journey(), list[i]->channel(),
                            FormatTimestamp(list[i]->created_at_ms()), n, cap.channel, cap.max);
          }
        }
      }
    }
  }
  return violations;
}

struct StreamResult {
  std::vector<v1::Task> tasks;
  std::vector<std::string> trace;
  uint64_t entered = 0;
  uint64_t receipts_entered = 0;
  size_t defers = 0, skips = 0, pending_timers = 0;
};

StreamResult RunCapsStream(uint64_t seed, bool jumps) {
  GovHost h;
  h.Install(kCapsPolicy, CapsJourneys());
  h.SetNow(T("2026-01-05T00:00:00Z"));
  Lcg rng{seed};
  const std::vector<std::string> events = {"Browse", "Cart", "Price Drop", "Wishlist", "Order"};
  StreamResult out;
  for (int i = 0; i < 6000; ++i) {
    h.AdvanceTo(h.now() + rng.Below(40 * kMinute) + 1);
    if (jumps && rng.Below(100) == 0) h.Jump(rng.Below(2) == 0 ? 2 * kHour : -2 * kHour);
    const std::string user = fmt::format("c{}", rng.Below(60));
    const std::string& e = events[static_cast<size_t>(rng.Below(5))];
    if (e == "Order") ++out.receipts_entered;
    h.Track(user, e);
  }
  h.AdvanceTo(h.now() + 30 * kDay);
  out.tasks = h.tasks();
  for (const auto& t : h.trace()) {
    out.trace.push_back(fmt::format("{} {} {} {} {} {}", t.at_ms(), t.customer(), t.journey(),
                                    t.action(), t.reason(), t.task_id()));
    out.entered += t.action() == "enter" ? 1 : 0;
    out.defers += t.action() == "defer" ? 1 : 0;
    out.skips += t.action() == "skip" ? 1 : 0;
  }
  out.pending_timers = h.pending_timers();
  return out;
}

TEST(CapsStream, ZeroViolationsOverAGeneratedStream) {
  for (bool jumps : {false, true}) {
    SCOPED_TRACE(jumps ? "with +-2h clock jumps" : "monotonic clock");
    const StreamResult r = RunCapsStream(42, jumps);
    std::string first;
    EXPECT_EQ(CapViolations(r.tasks, &first), 0u) << first;
    // The caps were really in the way (the test can fail).
    EXPECT_GT(r.defers, 200u);
    EXPECT_GT(r.skips, 200u);
    EXPECT_GT(r.tasks.size(), 1000u);
    // Transactional receipts: never held back.
    size_t receipts = 0;
    for (const auto& t : r.tasks) receipts += t.journey() == "receipt" ? 1 : 0;
    EXPECT_EQ(receipts, r.receipts_entered);
    EXPECT_EQ(r.pending_timers, 0u);
  }
}

TEST(CapsStream, ReplayRepeatsEveryDecision) {
  const StreamResult a = RunCapsStream(7, true);
  const StreamResult b = RunCapsStream(7, true);
  ASSERT_EQ(a.tasks.size(), b.tasks.size());
  for (size_t i = 0; i < a.tasks.size(); ++i) {
    EXPECT_EQ(a.tasks[i].task_id(), b.tasks[i].task_id());
    EXPECT_EQ(a.tasks[i].created_at_ms(), b.tasks[i].created_at_ms());
  }
  EXPECT_EQ(a.trace, b.trace);
}

TEST(Caps, DeferredSendGoesOutExactlyWhenTheWindowFrees) {
  GovHost h;
  h.Install("governance:\n  caps: [{ channel: sms, max: 1, per: 1d }]\n",
            {OneSend("a", 10, "sms", "Go")});
  const TimestampMs t0 = T("2026-03-01T10:00:00Z");
  h.SetNow(t0);
  h.Track("u1", "Go");
  h.AdvanceTo(t0 + kDay - 1);
  h.Track("u1", "Go");
  EXPECT_THAT(h.Lines("u1", "send defer"),
              ElementsAre("a#1 msg send",
                          "a#2 msg defer: frequency cap: 1 marketing message in "
                          "1d (sms): deferred to 2026-03-02T10:00:00.000Z"));
  h.AdvanceTo(t0 + 2 * kDay);
  ASSERT_EQ(h.tasks().size(), 2u);
  EXPECT_EQ(h.tasks()[1].created_at_ms(), t0 + kDay);
  EXPECT_EQ(h.customer("u1").deferred_size(), 0);
  EXPECT_EQ(h.runtime().counters().governance.deferred[static_cast<size_t>(Reason::kFrequencyCap)],
            1u);
}

TEST(Caps, TransactionalStepIsExempt) {
  GovHost h;
  const std::string two_steps = R"(
journey: order
version: 1
when: { event: Order }
who: { consent: { email: implied } }
entry: { reentry: always }
steps:
  - id: promo
    send: { channel: email, template: upsell }
  - id: receipt
    send: { channel: email, template: receipt, transactional: true }
)";
  h.Install("governance:\n  caps: [{ channel: any, max: 1, per: 1d }]\n", {two_steps});
  h.SetNow(T("2026-03-01T10:00:00Z"));
  h.Track("u1", "Order");
  h.AdvanceTo(h.now() + kHour);
  h.Track("u1", "Order");
  // The second promo waits for the window; its receipt waits behind it (a
  // journey's steps keep their order), then goes without counting.
  h.AdvanceTo(h.now() + 2 * kDay);
  std::vector<std::string> steps;
  for (const auto& t : h.tasks()) steps.push_back(t.step());
  EXPECT_THAT(steps, ElementsAre("promo", "receipt", "promo", "receipt"));
  EXPECT_EQ(h.tasks()[2].created_at_ms(), T("2026-03-02T10:00:00Z"));
}

// ---- quiet hours across DST changes and clock jumps

constexpr const char* kQuietPolicy = R"(
governance:
  timezone: UTC
  quiet_hours:
    - { from: "21:00", to: "08:00", channels: [email] }
    - { from: "23:30", to: "02:30", channels: [sms] }
    - { from: "01:00", to: "03:00", channels: [push] }
)";

struct Window {
  int from, to;
};
const std::map<std::string, Window> kWindows = {
    {"email", {21 * 60, 8 * 60}}, {"sms", {23 * 60 + 30, 2 * 60 + 30}}, {"push", {60, 180}}};

// Brute force, independent of the governor: the local wall-clock minute.
bool QuietAt(const std::string& tz, const std::string& channel, TimestampMs at) {
  const auto z = date::make_zoned(
      tz, date::sys_time<std::chrono::milliseconds>(std::chrono::milliseconds(at)));
  const auto local = z.get_local_time();
  const auto midnight = date::floor<date::days>(local);
  const int m =
      static_cast<int>(std::chrono::duration_cast<std::chrono::minutes>(local - midnight).count());
  const Window w = kWindows.at(channel);
  return w.from < w.to ? (m >= w.from && m < w.to) : (m >= w.from || m < w.to);
}

// The first minute boundary >= at outside the window, scanning minute by minute.
TimestampMs BruteEnd(const std::string& tz, const std::string& channel, TimestampMs at) {
  if (!QuietAt(tz, channel, at)) return at;
  TimestampMs t = (at / kMinute + 1) * kMinute;
  for (int i = 0; i < 3 * 24 * 60 && QuietAt(tz, channel, t); ++i) t += kMinute;
  return t;
}

struct DstDay {
  std::string zone;
  std::string change;  // the UTC instant of the change
};

void RunQuietScenario(const DstDay& day, bool jumps) {
  GovHost h;
  h.Install(kQuietPolicy, {OneSend("mail", 30, "email", "A"), OneSend("text", 60, "sms", "B"),
                           OneSend("push", 90, "push", "C")});
  const TimestampMs change = T(day.change);
  h.SetNow(change - 30 * kHour);
  std::map<std::string, std::string> zone_of;
  for (int i = 0; i < 30; ++i) {
    const std::string id = fmt::format("u{}", i);
    // Most customers in the zone under test; some rely on the policy default.
    zone_of[id] = i % 5 == 4 ? "UTC" : day.zone;
    if (i % 5 != 4) {
      h.Identify(id, fmt::format(R"({{"timezone":"{}"}})", day.zone));
    }
  }
  Lcg rng{static_cast<uint64_t>(change) + (jumps ? 1 : 0)};
  const std::vector<std::string> events = {"A", "B", "C"};
  const TimestampMs end = change + 30 * kHour;
  size_t entered = 0;
  bool jumped_back = false;
  while (h.now() < end) {
    h.AdvanceTo(h.now() + rng.Below(7 * kMinute) + 1);
    if (jumps && rng.Below(60) == 0) {
      // Back and forth so the run still ends.
      h.Jump(jumped_back ? 2 * kHour : -2 * kHour);
      jumped_back = !jumped_back;
    }
    h.Track(fmt::format("u{}", rng.Below(30)), events[static_cast<size_t>(rng.Below(3))]);
  }
  h.AdvanceTo(end + 3 * kDay);
  // 0 sends inside quiet hours.
  size_t inside = 0;
  std::string first;
  for (const auto& t : h.tasks()) {
    if (QuietAt(zone_of[t.customer_id()], t.channel(), t.created_at_ms())) {
      if (inside++ == 0) {
        first = fmt::format("{} {} at {}", t.customer_id(), t.channel(),
                            FormatTimestamp(t.created_at_ms()));
      }
    }
  }
  EXPECT_EQ(inside, 0u) << first;
  // No message lost: every entry sent exactly once.
  for (const auto& e : h.trace()) entered += e.action() == "enter" ? 1 : 0;
  EXPECT_GT(entered, 500u);
  EXPECT_EQ(h.tasks().size(), entered);
  std::set<std::string> ids;
  for (const auto& t : h.tasks()) ids.insert(t.task_id());
  EXPECT_EQ(ids.size(), h.tasks().size());
  EXPECT_EQ(h.pending_timers(), 0u);
  // Each deferred send went out at the end of its window (without jumps,
  // exactly when the clock got there).
  std::map<std::string, TimestampMs> first_defer;  // customer/journey#instance -> when
  size_t defers = 0;
  for (const auto& e : h.trace()) {
    if (e.action() != "defer") continue;
    ++defers;
    EXPECT_THAT(e.reason(), HasSubstr("quiet hours"));
    first_defer.emplace(fmt::format("{}/{}#{}", e.customer(), e.journey(), e.instance()),
                        e.at_ms());
  }
  EXPECT_GT(defers, 100u);
  if (!jumps) {
    for (const auto& t : h.tasks()) {
      auto it =
          first_defer.find(fmt::format("{}/{}#{}", t.customer_id(), t.journey(), t.instance()));
      if (it == first_defer.end()) continue;
      EXPECT_EQ(FormatTimestamp(t.created_at_ms()),
                FormatTimestamp(BruteEnd(zone_of[t.customer_id()], t.channel(), it->second)))
          << t.customer_id() << " " << t.channel() << " deferred at "
          << FormatTimestamp(it->second);
    }
  }
}

const std::vector<DstDay> kDstDays = {
    {"Europe/Berlin", "2026-03-29T01:00:00Z"},     // spring forward 02:00 -> 03:00
    {"Europe/Berlin", "2026-10-25T01:00:00Z"},     // fall back 03:00 -> 02:00
    {"America/New_York", "2026-03-08T07:00:00Z"},  // spring forward 02:00 -> 03:00
    {"America/New_York", "2026-11-01T06:00:00Z"},  // fall back 02:00 -> 01:00
};

TEST(QuietHoursStream, NoSendInsideAcrossDstChanges) {
  for (const auto& d : kDstDays) {
    SCOPED_TRACE(d.zone + " " + d.change);
    RunQuietScenario(d, false);
  }
}

TEST(QuietHoursStream, NoSendInsideWithClockJumps) {
  for (const auto& d : kDstDays) {
    SCOPED_TRACE(d.zone + " " + d.change);
    RunQuietScenario(d, true);
  }
}

TEST(QuietHours, DeferredThenRecheckedAfterAForwardJump) {
  GovHost h;
  h.Install(R"(governance:
  quiet_hours: { from: "21:00", to: "08:00" }
  caps: [{ channel: any, max: 1, per: 1d }]
)",
            {OneSend("a", 10, "email", "Go")});
  h.SetNow(T("2026-03-01T22:00:00Z"));
  h.Track("u1", "Go");
  EXPECT_THAT(h.Lines("u1", "defer"),
              ElementsAre("a#1 msg defer: quiet hours 21:00-08:00 UTC: deferred to "
                          "2026-03-02T08:00:00.000Z"));
  // The clock jumps 2 h past the window's end: sent late, at the reading.
  h.AdvanceTo(T("2026-03-02T07:00:00Z"));
  h.Jump(2 * kHour);
  ASSERT_EQ(h.tasks().size(), 1u);
  EXPECT_EQ(h.tasks()[0].created_at_ms(), T("2026-03-02T09:00:00Z"));
}

// ---- priority arbitration

TEST(Arbitration, HigherPriorityWinsTheLastSlotAtTheSameWakeUp) {
  GovHost h;
  h.Install(R"(governance:
  quiet_hours: { from: "21:00", to: "08:00" }
  caps: [{ channel: any, max: 1, per: 1d }]
)",
            {OneSend("low", 10, "email", "Go"), OneSend("high", 90, "sms", "Late"),
             OneSend("low-skip", 5, "push", "Go", "on_cap: skip")});
  h.SetNow(T("2026-03-01T22:00:00Z"));
  h.Track("u1", "Go");  // low and low-skip wait for 08:00, their timers first
  h.AdvanceTo(T("2026-03-01T22:30:00Z"));
  h.Track("u1", "Late");  // high waits for 08:00 too
  h.AdvanceTo(T("2026-03-03T12:00:00Z"));
  EXPECT_THAT(
      h.Lines("u1", "send defer skip"),
      ElementsAre(
          "low#1 msg defer: quiet hours 21:00-08:00 UTC: deferred to 2026-03-02T08:00:00.000Z",
          "low-skip#1 msg defer: quiet hours 21:00-08:00 UTC: deferred to "
          "2026-03-02T08:00:00.000Z",
          "high#1 msg defer: quiet hours 21:00-08:00 UTC: deferred to 2026-03-02T08:00:00.000Z",
          "low#1 msg defer: priority arbitration: 1 of 1 marketing message in 1d (any channel) "
          "left for 1 pending higher-priority send (journey 'high', priority 90): deferred to "
          "2026-03-02T08:00:00.001Z",
          "low-skip#1 msg skip: priority arbitration: 1 of 1 marketing message in 1d (any "
          "channel) left for 2 pending higher-priority sends (journey 'high', priority 90) "
          "(on_cap: skip)",
          "high#1 msg send",
          "low#1 msg defer: frequency cap: 1 marketing message in 1d (any channel): deferred to "
          "2026-03-03T08:00:00.000Z",
          "low#1 msg send"));
  EXPECT_EQ(h.customer("u1").deferred_size(), 0);
}

TEST(Arbitration, LowerPriorityMayNotTakeTheLastSlotFromAPendingSend) {
  GovHost h;
  h.Install(R"(governance:
  quiet_hours: { from: "21:00", to: "08:00", channels: [sms] }
  caps: [{ channel: any, max: 2, per: 1d }]
)",
            {OneSend("high", 90, "sms", "Night"), OneSend("low", 10, "email", "Shop")});
  h.SetNow(T("2026-03-01T10:00:00Z"));
  h.Track("u1", "Shop");  // 1 of 2 used until 2026-03-02T10:00
  h.AdvanceTo(T("2026-03-01T22:00:00Z"));
  h.Track("u1", "Night");  // high waits for 08:00 and keeps the last slot
  h.AdvanceTo(T("2026-03-01T23:00:00Z"));
  h.Track("u1", "Shop");  // low may not take it
  h.AdvanceTo(T("2026-03-02T11:00:00Z"));
  const auto lines = h.Lines("u1", "send defer");
  ASSERT_EQ(lines.size(), 6u);
  EXPECT_EQ(lines[0], "low#1 msg send");
  EXPECT_THAT(lines[2], HasSubstr("low#2 msg defer: priority arbitration: 1 of 2"));
  EXPECT_EQ(lines[3], "high#1 msg send");
  EXPECT_THAT(lines[4], HasSubstr("low#2 msg defer: frequency cap: 2 marketing messages in 1d "
                                  "(any channel): deferred to 2026-03-02T10:00:00.000Z"));
  EXPECT_EQ(lines[5], "low#2 msg send");
}

// ---- holdout and suppression

TEST(Holdout, ControlGroupWalksTheJourneyWithoutMarketing) {
  GovHost h;
  const std::string journey = R"(
journey: promo
version: 1
when: { event: Go }
who: { consent: { email: implied } }
goal: { event: Order, within: 7d }
steps:
  - id: offer
    send: { channel: email, template: offer }
  - id: receipt
    send: { channel: email, template: receipt, transactional: true }
)";
  h.Install("governance:\n  holdout: { percent: 30, salt: s1 }\n", {journey});
  h.SetNow(T("2026-03-01T10:00:00Z"));
  Policy probe;
  probe.holdout.basis_points = 3000;
  probe.holdout.salt = "s1";
  std::string held, free;
  for (int i = 0; (held.empty() || free.empty()) && i < 1000; ++i) {
    const std::string id = fmt::format("c{}", i);
    if (InHoldout(probe, id) && held.empty()) held = id;
    if (!InHoldout(probe, id) && free.empty()) free = id;
  }
  ASSERT_FALSE(held.empty());
  ASSERT_FALSE(free.empty());
  h.Track(held, "Go");
  h.Track(free, "Go");
  h.Track(held, "Order");
  EXPECT_THAT(h.Lines(held, "send skip goal"),
              ElementsAre("promo#1 offer skip: global holdout (30% control group, salt 's1'): "
                          "no marketing",
                          "promo#1 receipt send", HasSubstr("goal: Order")));
  EXPECT_THAT(h.Lines(free, "send skip"),
              ElementsAre("promo#1 offer send", "promo#1 receipt send"));
  EXPECT_EQ(h.runtime().counters().governance.skipped[static_cast<size_t>(Reason::kHoldout)].load(),
            1u);
}

TEST(Suppression, HashedEmailPhoneOrIdSkipsEverySend) {
  cairn::testing::TempDir dir;
  const auto pdir = std::filesystem::path(dir.path()) / "profile";
  std::filesystem::create_directories(pdir);
  {
    std::ofstream(pdir / "suppressions.txt") << HashEmail("ann@example.com") << "\n"
                                             << HashPhone("+491512345678") << "\n"
                                             << HashId("u-3") << "\n";
  }
  GovHost h;
  h.Install("governance:\n  suppression: { file: suppressions.txt }\n",
            {OneSend("tx", 10, "email", "Go", "transactional: true")},
            (pdir / "governance.yaml").string());
  h.SetNow(T("2026-03-01T10:00:00Z"));
  h.Identify("u-1", R"({"email":"  Ann@Example.com "})");
  h.Identify("u-2", R"({"phone":"+49 151 2345678"})");
  h.Identify("u-4", R"({"email":"bob@example.com","phone":"+15550100"})");
  for (const char* u : {"u-1", "u-2", "u-3", "u-4"}) h.Track(u, "Go");
  EXPECT_THAT(h.Lines("u-1", "send skip"),
              ElementsAre("tx#1 msg skip: suppressed: e-mail address on the suppression list"));
  EXPECT_THAT(h.Lines("u-2", "send skip"),
              ElementsAre("tx#1 msg skip: suppressed: phone number on the suppression list"));
  EXPECT_THAT(h.Lines("u-3", "send skip"),
              ElementsAre("tx#1 msg skip: suppressed: customer id on the suppression list"));
  EXPECT_THAT(h.Lines("u-4", "send skip"), ElementsAre("tx#1 msg send"));
  const auto counts = h.runtime().counters().governance.Snapshot();
  EXPECT_EQ(counts.at("skipped.suppression"), 3u);
}

}  // namespace
}  // namespace cairn::governance::testing
