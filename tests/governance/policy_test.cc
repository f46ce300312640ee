// The `governance:` section (policy.cc) and the governor's pure decisions
// (governor.cc) on hand-made customer records.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "cairn/time.h"
#include "gov_host.h"
#include "governance/governor.h"
#include "journey/loader.h"
#include "profile/loader.h"
#include "test_support.h"

namespace cairn::governance {
namespace {

using ::testing::HasSubstr;
using testing::kDay;
using testing::kHour;
using testing::kMinute;
using testing::T;

std::string Diags(const profile::LoadResult& r) {
  std::string out;
  for (const auto& d : r.diagnostics) out += d.ToString() + "\n";
  return out;
}

Policy Parse(const std::string& yaml, const std::string& path = "/nonexistent/p/gov.yaml") {
  auto r = profile::LoadProfile({{path, yaml}});
  EXPECT_TRUE(r.model) << Diags(r);
  return r.model ? r.model->governance : Policy{};
}

TEST(Policy, ReadsEverySection) {
  const Policy p = Parse(R"(
governance:
  timezone: Europe/Berlin
  caps:
    - { channel: any, max: 3, per: 7d }
    - { channel: sms, max: 1, per: 1d }
  quiet_hours:
    - { from: "21:00", to: "08:00" }
    - { from: "12:00", to: "13:30", channels: [push] }
  holdout: { percent: 2.5, salt: "2026-h1" }
  max_deferral: 2d
)");
  EXPECT_TRUE(p.declared);
  ASSERT_EQ(p.caps.size(), 2u);
  EXPECT_EQ(p.caps[0].channel, "");
  EXPECT_EQ(p.caps[0].max, 3u);
  EXPECT_EQ(p.caps[0].per_ms, 7 * kDay);
  EXPECT_EQ(p.caps[1].channel, "sms");
  ASSERT_EQ(p.quiet_hours.size(), 2u);
  EXPECT_EQ(p.quiet_hours[0].from_minute, 21 * 60);
  EXPECT_EQ(p.quiet_hours[0].to_minute, 8 * 60);
  EXPECT_EQ(p.quiet_hours[1].channels, std::vector<std::string>{"push"});
  EXPECT_EQ(p.holdout.basis_points, 250u);
  EXPECT_EQ(p.holdout.salt, "2026-h1");
  EXPECT_EQ(p.timezone, "Europe/Berlin");
  EXPECT_EQ(p.max_deferral_ms, 2 * kDay);
  EXPECT_EQ(p.longest_window_ms(), 7 * kDay);
}

TEST(Policy, BadInputIsDiagnosedAtItsPlace) {
  auto r = profile::LoadProfile({{"p.yaml", R"(governance:
  caps:
    - { channel: any, max: 3, per: 7 }
    - { chanel: sms, max: 1, per: 1d }
  quiet_hours: { from: "21:00", to: "21:00" }
  holdout: { percent: 150, salt: x }
  timezone: Mars/Olympus
  frequency: 3
)"}});
  ASSERT_FALSE(r.model);
  const std::string d = Diags(r);
  EXPECT_THAT(d, HasSubstr("p.yaml:3:36: 'per': '7' is not a duration"));
  EXPECT_THAT(d, HasSubstr("p.yaml:4:9: unknown key 'chanel' in a cap; did you mean 'channel'?"));
  EXPECT_THAT(d, HasSubstr("p.yaml:5:37: quiet_hours 'from' and 'to' are the same time"));
  EXPECT_THAT(d, HasSubstr("p.yaml:6:23: 'percent' is a number from 0 to 100"));
  EXPECT_THAT(d, HasSubstr("p.yaml:7:13: 'timezone': 'Mars/Olympus' is not a known time zone"));
  EXPECT_THAT(d, HasSubstr("p.yaml:8:3: unknown key 'frequency' in governance"));
}

TEST(Policy, SuppressionFileIsReadBesideTheProfile) {
  cairn::testing::TempDir dir;
  const auto pdir = std::filesystem::path(dir.path()) / "profile";
  std::filesystem::create_directories(pdir);
  {
    std::ofstream(pdir / "suppressions.txt") << "# hashed identifiers\n"
                                             << HashEmail("ann@example.com") << "\n\n"
                                             << "  " << HashId("u-3") << "  \r\n";
  }
  const Policy p =
      Parse("governance:\n  suppression: { file: suppressions.txt }\n", (pdir / "g.yaml").string());
  EXPECT_EQ(p.suppressed->size(), 2u);
  EXPECT_EQ(p.suppression_file, (pdir / "suppressions.txt").string());

  { std::ofstream(pdir / "bad.txt") << HashId("x") << "\nann@example.com\n"; }
  auto r = profile::LoadProfile(
      {{(pdir / "g.yaml").string(), "governance:\n  suppression: { file: bad.txt }\n"}});
  EXPECT_THAT(Diags(r),
              HasSubstr("g.yaml:2:24: " + (pdir / "bad.txt").string() + ":2: not a sha256 digest"));
  r = profile::LoadProfile(
      {{(pdir / "g.yaml").string(), "governance:\n  suppression: { file: missing.txt }\n"}});
  EXPECT_THAT(Diags(r), HasSubstr("g.yaml:2:24: cannot read the suppression list"));
}

TEST(Hashes, NormaliseTheIdentifier) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(HashEmail("  Ann@Example.COM \n"), Sha256Hex("ann@example.com"));
  EXPECT_EQ(HashPhone("+49 (151) 234-5678"), Sha256Hex("+491512345678"));
  EXPECT_EQ(HashId("u-3"), Sha256Hex("u-3"));
}

// ---- caps on hand-made records

v1::CustomerState WithSends(std::initializer_list<std::pair<TimestampMs, const char*>> sends) {
  v1::CustomerState c;
  c.set_id("c1");
  for (auto [at, channel] : sends) {
    auto* r = c.add_sent();
    r->set_at_ms(at);
    r->set_channel(channel);
  }
  return c;
}

SendRequest Req(std::string_view channel, int priority = 50) {
  SendRequest s;
  s.journey = "j";
  s.instance = 1;
  s.step = "msg";
  s.channel = channel;
  s.priority = priority;
  return s;
}

TEST(Caps, SlidingWindowEdgeIsExact) {
  const Policy p = Parse("governance:\n  caps: [{ channel: sms, max: 1, per: 1d }]\n");
  const TimestampMs t0 = T("2026-03-01T10:00:00Z");
  const auto c = WithSends({{t0, "sms"}});
  // One millisecond before the send leaves the window: deferred to exactly then.
  Decision d = Decide(p, c, Req("sms"), t0 + kDay - 1);
  EXPECT_EQ(d.verdict, Verdict::kDefer);
  EXPECT_EQ(d.until, t0 + kDay);
  EXPECT_EQ(d.reason, Reason::kFrequencyCap);
  EXPECT_EQ(d.text,
            "frequency cap: 1 marketing message in 1d (sms): deferred to "
            "2026-03-02T10:00:00.000Z");
  // At the boundary the window (now - 1d, now] no longer holds it.
  EXPECT_EQ(Decide(p, c, Req("sms"), t0 + kDay).verdict, Verdict::kSend);
  // Another channel is not capped by an sms cap.
  EXPECT_EQ(Decide(p, c, Req("email"), t0 + 1).verdict, Verdict::kSend);
}

TEST(Caps, GlobalCountsEveryChannelPerChannelOnlyItsOwn) {
  const Policy p = Parse(R"(governance:
  caps: [{ channel: any, max: 3, per: 7d }, { channel: sms, max: 1, per: 1d }]
)");
  const TimestampMs t0 = T("2026-03-01T00:00:00Z");
  const auto c = WithSends({{t0, "email"}, {t0 + kHour, "push"}, {t0 + 2 * kHour, "sms"}});
  const TimestampMs now = t0 + 2 * kDay;
  Decision d = Decide(p, c, Req("email"), now);
  EXPECT_EQ(d.verdict, Verdict::kDefer);
  EXPECT_EQ(d.until, t0 + 7 * kDay);  // the oldest of the three leaves the 7d window
  EXPECT_THAT(d.text, HasSubstr("3 marketing messages in 7d (any channel)"));
  // Transactional: exempt.
  SendRequest tx = Req("email");
  tx.transactional = true;
  EXPECT_EQ(Decide(p, c, tx, now).verdict, Verdict::kSend);
  // on_cap: skip.
  SendRequest skip = Req("email");
  skip.on_cap = journey::OnCap::kSkip;
  d = Decide(p, c, skip, now);
  EXPECT_EQ(d.verdict, Verdict::kSkip);
  EXPECT_THAT(d.text, HasSubstr("(on_cap: skip)"));
  // Past max_deferral: skip.
  SendRequest short_wait = Req("email");
  short_wait.max_deferral_ms = kDay;
  d = Decide(p, c, short_wait, now);
  EXPECT_EQ(d.verdict, Verdict::kSkip);
  EXPECT_EQ(d.reason, Reason::kMaxDeferral);
}

TEST(Caps, ApplyKeepsHistoryBoundedAndForgetsTransactional) {
  const Policy p = Parse("governance:\n  caps: [{ channel: any, max: 100, per: 1d }]\n");
  v1::CustomerState c;
  c.set_id("c1");
  const TimestampMs t0 = T("2026-03-01T00:00:00Z");
  for (int i = 0; i < 50; ++i) {
    Apply(p, c, Req("email"), Decision{}, t0 + i * kHour);
  }
  EXPECT_EQ(c.sent_size(), 24);  // those within the last day
  SendRequest tx = Req("email");
  tx.transactional = true;
  Apply(p, c, tx, Decision{}, t0 + 49 * kHour);
  EXPECT_EQ(c.sent_size(), 24);
}

// ---- quiet hours

TEST(QuietHours, SpanMidnightInTheCustomersZone) {
  const Policy p = Parse("governance:\n  quiet_hours: { from: \"21:00\", to: \"08:00\" }\n");
  // 22:30 in Berlin (CET, UTC+1) -> 08:00 CET.
  EXPECT_TRUE(InQuietHours(p, "email", "Europe/Berlin", T("2026-02-10T21:30:00Z")));
  EXPECT_EQ(QuietHoursEnd(p, "email", "Europe/Berlin", T("2026-02-10T21:30:00Z")),
            T("2026-02-11T07:00:00Z"));
  EXPECT_FALSE(InQuietHours(p, "email", "Europe/Berlin", T("2026-02-10T19:59:59.999Z")));
  EXPECT_TRUE(InQuietHours(p, "email", "Europe/Berlin", T("2026-02-10T20:00:00Z")));
  EXPECT_FALSE(InQuietHours(p, "email", "Europe/Berlin", T("2026-02-11T07:00:00Z")));
  // Spring forward in New York (2026-03-08, 02:00 -> 03:00 EDT): 08:00 EDT is 12:00Z.
  EXPECT_EQ(QuietHoursEnd(p, "sms", "America/New_York", T("2026-03-08T03:00:00Z")),
            T("2026-03-08T12:00:00Z"));
  // Fall back in Berlin (2026-10-25, 03:00 CEST -> 02:00 CET): 08:00 CET is 07:00Z.
  EXPECT_EQ(QuietHoursEnd(p, "sms", "Europe/Berlin", T("2026-10-24T20:00:00Z")),
            T("2026-10-25T07:00:00Z"));
}

TEST(QuietHours, WindowEndingInADstGapOrFold) {
  const Policy p = Parse("governance:\n  quiet_hours: { from: \"23:30\", to: \"02:30\" }\n");
  // Berlin spring forward 2026-03-29: 02:30 does not exist; the window ends
  // when the clock jumps to 03:00 CEST (01:00Z).
  EXPECT_EQ(QuietHoursEnd(p, "sms", "Europe/Berlin", T("2026-03-28T23:00:00Z")),
            T("2026-03-29T01:00:00Z"));
  EXPECT_FALSE(InQuietHours(p, "sms", "Europe/Berlin", T("2026-03-29T01:00:00Z")));
  // Berlin fall back 2026-10-25: 02:30 happens twice; the first ends the
  // window, the repeated 02:00-02:30 CET is quiet again until the second.
  EXPECT_EQ(QuietHoursEnd(p, "sms", "Europe/Berlin", T("2026-10-24T22:00:00Z")),
            T("2026-10-25T00:30:00Z"));
  EXPECT_TRUE(InQuietHours(p, "sms", "Europe/Berlin", T("2026-10-25T01:10:00Z")));
  EXPECT_EQ(QuietHoursEnd(p, "sms", "Europe/Berlin", T("2026-10-25T01:10:00Z")),
            T("2026-10-25T01:30:00Z"));
}

TEST(QuietHours, PerChannelAndUnknownZoneIsThePolicyDefault) {
  const Policy p = Parse(R"(governance:
  timezone: America/New_York
  quiet_hours: { from: "21:00", to: "08:00", channels: [sms] }
)");
  EXPECT_FALSE(InQuietHours(p, "email", "UTC", T("2026-02-10T23:00:00Z")));
  EXPECT_TRUE(InQuietHours(p, "sms", "UTC", T("2026-02-10T23:00:00Z")));
  v1::CustomerState c;
  c.set_traits_json(R"({"timezone":"Nowhere/Special"})");
  EXPECT_EQ(ZoneOf(p, c), "America/New_York");
  c.set_traits_json(R"({"timezone":"Asia/Tokyo"})");
  EXPECT_EQ(ZoneOf(p, c), "Asia/Tokyo");
}

// ---- holdout

TEST(Holdout, ShareWithinToleranceAndStable) {
  const Policy p = Parse("governance:\n  holdout: { percent: 5, salt: \"2026-h1\" }\n");
  const Policy other = Parse("governance:\n  holdout: { percent: 5, salt: \"2026-h2\" }\n");
  constexpr int kIds = 100000;
  int in = 0;
  int both = 0;
  for (int i = 0; i < kIds; ++i) {
    const std::string id = "customer-" + std::to_string(i);
    const bool a = InHoldout(p, id);
    EXPECT_EQ(a, InHoldout(p, id));  // stable
    in += a ? 1 : 0;
    both += (a && InHoldout(other, id)) ? 1 : 0;
  }
  // 5% of 100k = 5000; binomial sd ~ 69: +-300 is over 4 sd.
  EXPECT_NEAR(in, 5000, 300);
  // Another salt draws an independent group: ~0.25% in both.
  EXPECT_NEAR(both, 250, 80);
  EXPECT_FALSE(InHoldout(Parse("governance: {}\n"), "customer-1"));
}

}  // namespace
}  // namespace cairn::governance

namespace cairn::governance {
namespace {

TEST(JourneyKeys, TransactionalOnCapAndMaxDeferral) {
  const std::string ok = R"(journey: j
version: 1
transactional: true
on_cap: skip
max_deferral: 2d
when: { event: Go }
who: { consent: { email: implied } }
steps:
  - id: a
    send: { channel: email, template: t, transactional: false }
  - id: b
    send: { channel: email, template: t }
)";
  auto r = journey::LoadJourney(ok, "j.yaml");
  ASSERT_TRUE(r.journey);
  EXPECT_TRUE(r.journey->transactional);
  EXPECT_EQ(r.journey->on_cap, journey::OnCap::kSkip);
  EXPECT_EQ(r.journey->max_deferral_ms, 2 * testing::kDay);
  EXPECT_EQ(r.journey->steps[0].transactional, 0);
  EXPECT_EQ(r.journey->steps[1].transactional, -1);

  auto bad = journey::LoadJourney(R"(journey: j
version: 1
on_cap: later
when: { event: Go }
who: { consent: { email: implied } }
steps:
  - id: a
    send: { channel: email, template: t, transactional: maybe }
)",
                                  "j.yaml");
  ASSERT_FALSE(bad.journey);
  std::string d;
  for (const auto& x : bad.diagnostics) d += x.ToString() + "\n";
  EXPECT_THAT(d, ::testing::HasSubstr("j.yaml:3:9: on_cap must be defer or skip, not 'later'"));
  EXPECT_THAT(
      d, ::testing::HasSubstr("j.yaml:8:57: 'transactional' must be true or false, not 'maybe'"));
}

}  // namespace
}  // namespace cairn::governance
