// Computed traits, one aggregate at a time: all-time and windowed values,
// the exact window edge, late events, and the merge beyond kMaxWindowEntries
// (counts and sums stay exact).
#include "profile/values.h"

#include <gtest/gtest.h>

#include <random>
#include <set>
#include <tuple>

namespace cairn::profile {
namespace {

constexpr int64_t kDay = 86400000;

ComputedTrait Trait(Aggregate a, std::vector<std::string> of = {}, int64_t window = 0) {
  ComputedTrait t;
  t.name = "t";
  t.aggregate = a;
  t.event = "Order Completed";
  t.of = std::move(of);
  t.window_ms = window;
  return t;
}

Event Order(TimestampMs at, double total, const std::string& category = "shoes") {
  Event e;
  e.name = "Order Completed";
  e.timestamp_ms = at;
  e.properties_json =
      R"({"total":)" + std::to_string(total) + R"(,"product":{"category":")" + category + R"("}})";
  e.numeric_properties = {{"total", total}};
  return e;
}

// One trait's state: a customer record laid out for a model of that trait.
struct State {
  explicit State(const ComputedTrait& t) {
    m.traits = {t};
    m.Finish();
    Align(m, p);
  }
  int entries() const { return Entries(m, 0, p.computed()); }
  Model m;
  v1::ProfileState p;
};

void Add(const ComputedTrait& t, State& s, const Event& e) {
  ASSERT_EQ(t.name, s.m.traits[0].name);
  PropertyCache cache(e);
  auto o = Extract(t, e, cache);
  if (o) Fold(s.m, 0, *o, *s.p.mutable_computed());
}

expr::Value ComputedValue(const ComputedTrait& t, const State* s, TimestampMs now) {
  if (s == nullptr) {
    const State none(t);
    return profile::ComputedValue(none.m, 0, nullptr, now);
  }
  return profile::ComputedValue(s->m, 0, &s->p.computed(), now);
}

TimestampMs Expire(const ComputedTrait&, TimestampMs now, State& s) {
  return profile::Expire(s.m, 0, now, *s.p.mutable_computed());
}

TEST(ComputedValues, AllTimeAggregates) {
  const std::vector<std::pair<TimestampMs, double>> orders = {
      {3 * kDay, 30.0}, {1 * kDay, 10.0}, {5 * kDay, 50.0}, {2 * kDay, 20.0}};
  auto value = [&](Aggregate a, std::vector<std::string> of) {
    auto t = Trait(a, std::move(of));
    State s(t);
    for (const auto& [at, total] : orders) Add(t, s, Order(at, total));
    return ComputedValue(t, &s, 10 * kDay);
  };
  EXPECT_EQ(value(Aggregate::kCount, {}).int_value(), 4);
  EXPECT_DOUBLE_EQ(value(Aggregate::kSum, {"total"}).double_value(), 110.0);
  EXPECT_DOUBLE_EQ(value(Aggregate::kAvg, {"total"}).double_value(), 27.5);
  EXPECT_DOUBLE_EQ(value(Aggregate::kMin, {"total"}).double_value(), 10.0);
  EXPECT_DOUBLE_EQ(value(Aggregate::kMax, {"total"}).double_value(), 50.0);
  EXPECT_EQ(value(Aggregate::kFirst, {}).millis(), 1 * kDay);  // by event time, not arrival
  EXPECT_EQ(value(Aggregate::kLast, {}).millis(), 5 * kDay);
  EXPECT_EQ(value(Aggregate::kMin, {}).millis(), 1 * kDay);
  EXPECT_DOUBLE_EQ(value(Aggregate::kFirst, {"total"}).double_value(), 10.0);
  EXPECT_DOUBLE_EQ(value(Aggregate::kLast, {"total"}).double_value(), 50.0);
  EXPECT_EQ(value(Aggregate::kDistinct, {"product", "category"}).int_value(), 1);
}

TEST(ComputedValues, NothingYet) {
  for (auto a :
       {Aggregate::kAvg, Aggregate::kMin, Aggregate::kMax, Aggregate::kFirst, Aggregate::kLast}) {
    EXPECT_TRUE(ComputedValue(Trait(a, {"total"}), nullptr, 0).is_null());
    EXPECT_TRUE(ComputedValue(Trait(a, {"total"}, kDay), nullptr, 0).is_null());
  }
  EXPECT_EQ(ComputedValue(Trait(Aggregate::kCount), nullptr, 0).int_value(), 0);
  EXPECT_DOUBLE_EQ(ComputedValue(Trait(Aggregate::kSum, {"total"}), nullptr, 0).double_value(), 0);
}

TEST(ComputedValues, MissingOrWrongPropertyIsNotCounted) {
  auto t = Trait(Aggregate::kAvg, {"total"});
  State s(t);
  Event e = Order(kDay, 5);
  e.numeric_properties.clear();
  e.properties_json = R"({"total":"lots"})";
  Add(t, s, e);
  EXPECT_TRUE(ComputedValue(t, &s, kDay).is_null());
  auto d = Trait(Aggregate::kDistinct, {"product", "category"});
  State sd(d);
  Event f = Order(kDay, 5);
  f.properties_json = "not json";
  Add(d, sd, f);
  EXPECT_EQ(ComputedValue(d, &sd, kDay).int_value(), 0);
}

TEST(ComputedValues, WindowEdgeIsExact) {
  // (now - window, now]: an event exactly one window old is out, one ms younger is in.
  auto t = Trait(Aggregate::kCount, {}, 7 * kDay);
  State s(t);
  Add(t, s, Order(10 * kDay, 1));
  EXPECT_EQ(ComputedValue(t, &s, 17 * kDay - 1).int_value(), 1);
  EXPECT_EQ(ComputedValue(t, &s, 17 * kDay).int_value(), 0);
  // Expire() prunes what left and says when the next one leaves.
  Add(t, s, Order(12 * kDay, 1));
  EXPECT_EQ(Expire(t, 17 * kDay - 1, s), 17 * kDay);
  EXPECT_EQ(s.entries(), 2);
  EXPECT_EQ(Expire(t, 17 * kDay, s), 19 * kDay);
  EXPECT_EQ(s.entries(), 1);
  EXPECT_EQ(Expire(t, 19 * kDay, s), 0);
  EXPECT_EQ(s.entries(), 0);
}

TEST(ComputedValues, WindowedAggregatesAgainstBruteForce) {
  std::mt19937_64 rng(7);
  const int64_t window = 30 * kDay;
  for (Aggregate a : {Aggregate::kCount, Aggregate::kSum, Aggregate::kAvg, Aggregate::kMin,
                      Aggregate::kMax, Aggregate::kFirst, Aggregate::kLast, Aggregate::kDistinct}) {
    const bool cat = a == Aggregate::kDistinct;
    auto t = Trait(
        a,
        cat ? std::vector<std::string>{"product", "category"} : std::vector<std::string>{"total"},
        window);
    if (a == Aggregate::kCount) t.of.clear();
    State s(t);
    std::vector<std::tuple<TimestampMs, double, std::string>> all;
    // Mostly in order, some late (out of order) events.
    TimestampMs clock = 0;
    for (int i = 0; i < 3000; ++i) {
      clock += static_cast<int64_t>(rng() % (kDay / 2));
      const TimestampMs at =
          (rng() % 10 == 0) ? clock - static_cast<int64_t>(rng() % (3 * kDay)) : clock;
      const double total = static_cast<double>(rng() % 1000) / 4.0;
      const std::string c = "c" + std::to_string(rng() % 13);
      all.emplace_back(at, total, c);
      Add(t, s, Order(at, total, c));
      if (i % 97 == 0) {
        const TimestampMs now = clock;
        Expire(t, now, s);
        // Brute force over every event so far.
        uint64_t n = 0;
        double sum = 0, mn = 1e300, mx = -1e300;
        TimestampMs first_at = 0, last_at = 0;
        double first_v = 0, last_v = 0;
        std::set<std::string> cats;
        for (const auto& [at2, v, c2] : all) {
          if (at2 <= now - window || at2 > now + 10 * kDay) continue;
          ++n;
          sum += v;
          mn = std::min(mn, v);
          mx = std::max(mx, v);
          if (n == 1 || at2 < first_at) first_at = at2, first_v = v;
          if (n == 1 || at2 >= last_at) last_at = at2, last_v = v;
          cats.insert(c2);
        }
        const auto got = ComputedValue(t, &s, now);
        switch (a) {
          case Aggregate::kCount:
            EXPECT_EQ(got.int_value(), static_cast<int64_t>(n));
            break;
          case Aggregate::kSum:
            EXPECT_NEAR(got.double_value(), sum, 1e-6);
            break;
          case Aggregate::kAvg:
            if (n > 0) EXPECT_NEAR(got.double_value(), sum / static_cast<double>(n), 1e-6);
            break;
          case Aggregate::kMin:
            if (n > 0) EXPECT_DOUBLE_EQ(got.double_value(), mn);
            break;
          case Aggregate::kMax:
            if (n > 0) EXPECT_DOUBLE_EQ(got.double_value(), mx);
            break;
          case Aggregate::kFirst:
            if (n > 0) EXPECT_DOUBLE_EQ(got.double_value(), first_v);
            break;
          case Aggregate::kLast:
            if (n > 0) EXPECT_DOUBLE_EQ(got.double_value(), last_v);
            break;
          case Aggregate::kDistinct:
            EXPECT_EQ(got.int_value(), static_cast<int64_t>(cats.size()));
            break;
        }
      }
    }
  }
}

TEST(ComputedValues, BeyondTheEntryCapCountsAndSumsStayExact) {
  auto count = Trait(Aggregate::kCount, {}, 1000 * kDay);
  auto sum = Trait(Aggregate::kSum, {"total"}, 1000 * kDay);
  auto mx = Trait(Aggregate::kMax, {"total"}, 1000 * kDay);
  State sc(count), ss(sum), sm(mx);
  double total = 0;
  for (int i = 0; i < kMaxWindowEntries * 3; ++i) {
    const double v = (i * 37) % 101;
    total += v;
    Add(count, sc, Order(kDay + i * 1000, v));
    Add(sum, ss, Order(kDay + i * 1000, v));
    Add(mx, sm, Order(kDay + i * 1000, v));
  }
  EXPECT_LE(sc.entries(), kMaxWindowEntries);
  EXPECT_EQ(ComputedValue(count, &sc, 2 * kDay).int_value(), kMaxWindowEntries * 3);
  EXPECT_NEAR(ComputedValue(sum, &ss, 2 * kDay).double_value(), total, 1e-6);
  EXPECT_DOUBLE_EQ(ComputedValue(mx, &sm, 2 * kDay).double_value(), 100.0);
}

TEST(ComputedValues, ReadsAreExactWhetherOrNotTheWindowWasPruned) {
  // The profile stage prunes only when a first entry leaves; a read at any
  // later time must still count exactly (now - window, now].
  std::mt19937_64 rng(11);
  const int64_t window = 7 * kDay;
  auto count = Trait(Aggregate::kCount, {}, window);
  auto sum = Trait(Aggregate::kSum, {"total"}, window);
  auto mn = Trait(Aggregate::kMin, {"total"}, window);
  State sc(count), ss(sum), sm(mn);
  std::vector<std::pair<TimestampMs, double>> all;
  TimestampMs clock = 0;
  for (int i = 0; i < 400; ++i) {
    clock += static_cast<int64_t>(rng() % kDay);
    const double v = static_cast<double>(rng() % 500);
    all.emplace_back(clock, v);
    for (auto* p : {&count, &sum, &mn}) {
      Add(*p, p == &count ? sc : p == &sum ? ss : sm, Order(clock, v));
    }
    if (i % 50 == 0) Expire(count, clock, sc);  // the others are never pruned
    const TimestampMs now = clock + static_cast<int64_t>(rng() % (10 * kDay));
    int64_t n = 0;
    double total = 0, least = 1e300;
    for (const auto& [at, x] : all) {
      if (at <= now - window) continue;
      ++n;
      total += x;
      least = std::min(least, x);
    }
    ASSERT_EQ(ComputedValue(count, &sc, now).int_value(), n) << i;
    ASSERT_NEAR(ComputedValue(sum, &ss, now).double_value(), total, 1e-6) << i;
    if (n > 0) ASSERT_DOUBLE_EQ(ComputedValue(mn, &sm, now).double_value(), least) << i;
  }
}

TEST(ComputedValues, FoldAllAndExpireAllDoWhatFoldAndExpireDoOneByOne) {
  // Every kind of trait in one model, windows of several lengths, one that
  // goes over the entry cap (a head), JSON values; events mostly in order.
  std::vector<ComputedTrait> traits;
  for (int64_t w : {int64_t{0}, 2 * kDay, 9 * kDay, 4000 * kDay}) {
    for (Aggregate a :
         {Aggregate::kCount, Aggregate::kSum, Aggregate::kAvg, Aggregate::kMin, Aggregate::kMax,
          Aggregate::kFirst, Aggregate::kLast, Aggregate::kDistinct}) {
      auto t = Trait(a, {"total"}, w);
      if (a == Aggregate::kCount) t.of.clear();
      if (a == Aggregate::kDistinct || a == Aggregate::kLast) t.of = {"product", "category"};
      t.name = "t" + std::to_string(traits.size());
      traits.push_back(t);
      if (a == Aggregate::kMax) {  // of the event's time
        t.of.clear();
        t.name = "t" + std::to_string(traits.size());
        traits.push_back(t);
      }
    }
  }
  Model m;
  m.traits = traits;
  m.Finish();
  v1::ProfileState all, one;
  Align(m, all);
  Align(m, one);
  std::mt19937_64 rng(5);
  TimestampMs clock = 0;
  std::vector<char> selected(m.traits.size()), changed(m.traits.size());
  for (int i = 0; i < 2 * kMaxWindowEntries; ++i) {
    clock += static_cast<int64_t>(rng() % (kDay / 3));
    const TimestampMs at = rng() % 8 == 0 ? clock - static_cast<int64_t>(rng() % kDay) : clock;
    const Event e =
        Order(at, static_cast<double>(rng() % 400) / 4.0, "c" + std::to_string(rng() % 9));
    PropertyCache cache(e);
    std::vector<TraitOccurrence> os;
    for (size_t k = 0; k < m.traits.size(); ++k) {
      if (rng() % 4 == 0) continue;  // a trait whose `where` does not hold
      auto o = Extract(m.traits[k], e, cache);
      ASSERT_TRUE(o);
      Fold(m, k, *o, *one.mutable_computed());
      os.push_back({k, std::move(*o)});
    }
    FoldAll(m, os, *all.mutable_computed());
    ASSERT_EQ(all.computed().SerializeAsString(), one.computed().SerializeAsString()) << i;
    if (i % 3 != 0) continue;
    TimestampMs next = 0;
    std::vector<char> gone_one(m.traits.size(), 0);
    for (size_t k = 0; k < m.traits.size(); ++k) {
      selected[k] = rng() % 3 != 0 ? 1 : 0;
      if (selected[k] == 0) continue;
      bool gone = false;
      const TimestampMs t = Expire(m, k, clock, *one.mutable_computed(), &gone);
      if (t > 0 && (next == 0 || t < next)) next = t;
      gone_one[k] = gone ? 1 : 0;
    }
    std::fill(changed.begin(), changed.end(), 0);
    EXPECT_EQ(ExpireAll(m, selected.data(), clock, *all.mutable_computed(), changed.data()), next)
        << i;
    EXPECT_EQ(changed, gone_one) << i;
    ASSERT_EQ(all.computed().SerializeAsString(), one.computed().SerializeAsString()) << i;
  }
  ASSERT_TRUE(Fits(m, all.computed()));
  EXPECT_GT(all.computed().head_of_size(), 0) << "a window went over the entry cap";
  EXPECT_GT(Entries(m, 9, all.computed()), 0);
}

// Every record keeps a JSON end per trait, also under a model without JSON
// values: the previous binary finds a record without them damaged and
// starts every computed trait again (a rollback must not lose them).
TEST(ComputedValues, JsonEndsAreKeptForEveryTrait) {
  auto count = Trait(Aggregate::kCount, {}, 30 * kDay);
  count.name = "orders_30d";
  auto last = Trait(Aggregate::kLast, {"total"}, 30 * kDay);
  last.name = "last_total";
  Model plain, with_json;
  plain.traits = {count};
  plain.Finish();
  with_json.traits = {count, last};
  with_json.Finish();
  v1::ProfileState p;
  Align(plain, p);
  EXPECT_EQ(p.computed().json_end_size(), 1);
  EXPECT_TRUE(LaidOut(plain, p));
  const Event e = Order(kDay, 5.0);
  PropertyCache cache(e);
  Fold(plain, 0, *Extract(count, e, cache), *p.mutable_computed());
  EXPECT_TRUE(Fits(plain, p.computed()));
  EXPECT_FALSE(Align(plain, p));  // nothing to change
  // Without its JSON ends the record is not this model's layout.
  v1::ProfileState cut = p;
  cut.mutable_computed()->clear_json_end();
  EXPECT_FALSE(LaidOut(plain, cut));
  EXPECT_FALSE(Fits(plain, cut.computed()));
  // A model that keeps JSON values lays it out again, with its ends, and
  // keeps the count.
  EXPECT_FALSE(Fits(with_json, p.computed()));
  EXPECT_TRUE(Align(with_json, p));
  EXPECT_EQ(p.computed().json_end_size(), 2);
  EXPECT_TRUE(LaidOut(with_json, p));
  EXPECT_EQ(ComputedValue(with_json, 0, &p.computed(), 2 * kDay).int_value(), 1);
  Fold(with_json, 1, *Extract(last, e, cache), *p.mutable_computed());
  EXPECT_DOUBLE_EQ(ComputedValue(with_json, 1, &p.computed(), 2 * kDay).double_value(), 5.0);
}

TEST(ComputedValues, TheOldLayoutsAreReadAndMigrated) {
  // A record of the layout before ComputedTraits: one message per trait,
  // windows in the oldest one-message-per-entry form, with a merged entry.
  auto sum = Trait(Aggregate::kSum, {"total"}, 30 * kDay);
  sum.name = "sum";
  auto last = Trait(Aggregate::kLast, {"total"});
  last.name = "last";
  Model m;
  m.traits = {sum, last};
  m.Finish();
  v1::ProfileState p;
  auto* l = p.add_traits();  // declared second: found by name
  l->set_name("last");
  l->set_count(2);
  l->set_last_at_ms(2 * kDay);
  l->set_last_json("42");
  auto* s = p.add_traits();
  s->set_name("sum");
  auto* a = s->add_window();  // two occurrences merged under the old cap
  a->set_at_ms(kDay);
  a->set_count(2);
  a->set_value(3);
  a->set_max(5);
  a->set_sum(8);
  auto* b = s->add_window();
  b->set_at_ms(2 * kDay);
  b->set_count(1);
  b->set_value(10);
  s->set_window_count(3);
  s->set_window_sum(18);
  p.add_traits()->set_name("retired");
  EXPECT_TRUE(Align(m, p));
  EXPECT_EQ(p.traits_size(), 0);
  ASSERT_TRUE(Fits(m, p.computed()));
  EXPECT_FALSE(Align(m, p));  // once
  auto& c = *p.mutable_computed();
  EXPECT_DOUBLE_EQ(ComputedValue(m, 0, &c, 3 * kDay).double_value(), 18.0);
  EXPECT_EQ(ComputedValue(m, 1, &c, 3 * kDay).int_value(), 42);
  EXPECT_EQ(Entries(m, 0, c), 1);  // the merged pair went into the head
  Occurrence o;
  o.at_ms = 3 * kDay;
  o.number = 1;
  Fold(m, 0, o, c);
  EXPECT_DOUBLE_EQ(ComputedValue(m, 0, &c, 3 * kDay).double_value(), 19.0);
  // The merged pair leaves with its time: 8 of the sum goes.
  EXPECT_EQ(Expire(m, 0, 31 * kDay, c), 32 * kDay);
  EXPECT_DOUBLE_EQ(ComputedValue(m, 0, &c, 31 * kDay).double_value(), 11.0);
  EXPECT_EQ(ComputedValue(m, 0, &c, 33 * kDay).double_value(), 0.0);
}

TEST(ComputedValues, OldLayoutStatesWinOverAnOlderLaidOutCopy) {
  // A binary of the earlier layout ran after this one (a rollback): it kept
  // `computed` as an unknown field and counted on in `traits`.
  auto count = Trait(Aggregate::kCount);
  State s(count);
  Add(count, s, Order(kDay, 1));
  auto* old = s.p.add_traits();
  old->set_name("t");
  old->set_count(5);
  EXPECT_TRUE(Align(s.m, s.p));
  EXPECT_EQ(s.p.traits_size(), 0);
  EXPECT_EQ(ComputedValue(count, &s, 2 * kDay).int_value(), 5);
}

TEST(ComputedValues, AChangedModelKeepsTraitsByNameAndRestartsChangedOnes) {
  auto count = Trait(Aggregate::kCount, {}, 30 * kDay);
  count.name = "orders_30d";
  auto last = Trait(Aggregate::kLast, {"total"}, 30 * kDay);
  last.name = "last_total";
  auto total = Trait(Aggregate::kSum, {"total"});
  total.name = "revenue";
  Model before;
  before.traits = {count, last, total};
  before.Finish();
  v1::ProfileState p;
  Align(before, p);
  for (int k = 1; k <= 3; ++k) {
    Event e = Order(k * kDay, 10.0 * k);
    PropertyCache cache(e);
    for (size_t i = 0; i < 3; ++i) {
      auto o = Extract(before.traits[i], e, cache);
      ASSERT_TRUE(o);
      Fold(before, i, *o, *p.mutable_computed());
    }
  }
  // Reordered, one renamed, one whose aggregate changed, one new.
  auto renamed = total;
  renamed.name = "revenue_all";
  auto changed = count;
  changed.aggregate = Aggregate::kDistinct;
  changed.of = {"total"};
  Model after;
  after.traits = {last, renamed, changed, Trait(Aggregate::kCount)};
  after.Finish();
  EXPECT_FALSE(Fits(after, p.computed()));
  v1::ProfileState scratch;
  const auto& read = ForReading(after, p, scratch);
  EXPECT_TRUE(Fits(after, read));
  EXPECT_TRUE(Align(after, p));
  const auto& c = p.computed();
  EXPECT_DOUBLE_EQ(ComputedValue(after, 0, &c, 4 * kDay).double_value(), 30.0);  // kept, moved
  EXPECT_EQ(Entries(after, 0, c), 3);
  EXPECT_DOUBLE_EQ(ComputedValue(after, 1, &c, 4 * kDay).double_value(), 0.0);  // a new name
  EXPECT_EQ(ComputedValue(after, 2, &c, 4 * kDay).int_value(), 0);  // another definition
  EXPECT_EQ(ComputedValue(after, 3, &c, 4 * kDay).int_value(), 0);
  EXPECT_EQ(read.SerializeAsString(), c.SerializeAsString());
}

TEST(ComputedValues, ADamagedLayoutStartsAgainInsteadOfReadingOutOfBounds) {
  auto t = Trait(Aggregate::kSum, {"total"}, 30 * kDay);
  State s(t);
  Add(t, s, Order(kDay, 5));
  Add(t, s, Order(2 * kDay, 7));
  ASSERT_TRUE(Fits(s.m, s.p.computed()));
  s.p.mutable_computed()->set_var_end(0, 99);  // points past its entries
  EXPECT_FALSE(Fits(s.m, s.p.computed()));
  EXPECT_TRUE(Align(s.m, s.p));
  EXPECT_TRUE(Fits(s.m, s.p.computed()));
  EXPECT_EQ(s.entries(), 0);
  s.p.mutable_computed()->mutable_num()->RemoveLast();
  EXPECT_FALSE(Fits(s.m, s.p.computed()));
  EXPECT_TRUE(Align(s.m, s.p));
  EXPECT_DOUBLE_EQ(ComputedValue(t, &s, 3 * kDay).double_value(), 0.0);
}

}  // namespace
}  // namespace cairn::profile
