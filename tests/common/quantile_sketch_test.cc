#include "cairn/quantile_sketch.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "cairn/v1/state.pb.h"

namespace cairn {
namespace {

// The exact lower q-quantile: the element of rank floor(q * (n - 1)).
double ExactQuantile(std::vector<double> sorted, double q) {
  const auto rank = static_cast<size_t>(std::floor(q * static_cast<double>(sorted.size() - 1)));
  return sorted[rank];
}

std::vector<double> Qs() {
  std::vector<double> qs;
  for (int i = 0; i <= 100; ++i) qs.push_back(i / 100.0);
  qs.push_back(0.001);
  qs.push_back(0.999);
  qs.push_back(0.9999);
  return qs;
}

// Checks every quantile of `values` against a brute-force sort.
void ExpectWithinAccuracy(const QuantileSketch& s, std::vector<double> values,
                          const std::string& what) {
  ASSERT_EQ(s.Count(), values.size()) << what;
  std::sort(values.begin(), values.end());
  const double a = s.relative_accuracy();
  int checked = 0;
  for (double q : Qs()) {
    const double exact = ExactQuantile(values, q);
    const auto got = s.Quantile(q);
    ASSERT_TRUE(got.has_value()) << what << " q=" << q;
    if (exact == 0) {
      EXPECT_EQ(*got, 0.0) << what << " q=" << q;
    } else {
      // 1e-9 of slack for the rounding of log() at a bucket's edge.
      EXPECT_LE(std::abs(*got - exact), a * exact * (1 + 1e-9))
          << what << " q=" << q << " exact=" << exact << " got=" << *got;
    }
    ++checked;
  }
  EXPECT_EQ(checked, static_cast<int>(Qs().size()));
}

QuantileSketch SketchOf(const std::vector<double>& values, double accuracy = 0.01,
                        int max_buckets = QuantileSketch::kDefaultMaxBuckets) {
  auto s = QuantileSketch::Create(accuracy, max_buckets);
  EXPECT_TRUE(s.ok());
  for (double v : values) EXPECT_TRUE(s->Add(v)) << v;
  return std::move(s).value();
}

std::vector<double> Uniform(size_t n, uint64_t seed, double lo, double hi) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> d(lo, hi);
  std::vector<double> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

std::vector<double> LogNormal(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::lognormal_distribution<double> d(3.0, 2.0);  // spans ~1e-2 .. 1e5
  std::vector<double> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// Few distinct values, many repeats (order counts, days since last order).
std::vector<double> HeavyTies(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::geometric_distribution<int> d(0.3);
  std::vector<double> v(n);
  for (auto& x : v) x = 1 + d(rng);
  return v;
}

// 40% zeros (customers who never ordered), the rest spread out.
std::vector<double> WithZeros(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::bernoulli_distribution zero(0.4);
  std::exponential_distribution<double> d(0.01);
  std::vector<double> v(n);
  for (auto& x : v) x = zero(rng) ? 0.0 : d(rng);
  return v;
}

TEST(QuantileSketchTest, QuantilesWithinRelativeAccuracy) {
  ExpectWithinAccuracy(SketchOf(Uniform(50000, 1, 0, 1000)), Uniform(50000, 1, 0, 1000), "uniform");
  ExpectWithinAccuracy(SketchOf(LogNormal(50000, 2)), LogNormal(50000, 2), "lognormal");
  ExpectWithinAccuracy(SketchOf(HeavyTies(50000, 3)), HeavyTies(50000, 3), "ties");
  ExpectWithinAccuracy(SketchOf(WithZeros(50000, 4)), WithZeros(50000, 4), "zeros");
  ExpectWithinAccuracy(SketchOf(std::vector<double>(1000, 0.0)), std::vector<double>(1000, 0.0),
                       "all zeros");
  ExpectWithinAccuracy(SketchOf({42.0}), {42.0}, "one value");
  // Other accuracies keep their own bound. At 0.1% 2048 buckets span only a
  // factor of ~60, so this one needs a larger bound to stay uncollapsed.
  ExpectWithinAccuracy(SketchOf(LogNormal(20000, 5), 0.001, 16384), LogNormal(20000, 5), "a=0.001");
  ExpectWithinAccuracy(SketchOf(LogNormal(20000, 6), 0.05), LogNormal(20000, 6), "a=0.05");
}

TEST(QuantileSketchTest, ExtremeValues) {
  const std::vector<double> v = {std::numeric_limits<double>::min(), 1e-300, 1e-9, 1, 1e9, 1e300,
                                 QuantileSketch().max_indexable()};
  ExpectWithinAccuracy(SketchOf(v), v, "extremes");
  QuantileSketch s;
  // Denormals cannot be told from zero at any useful accuracy: counted as 0.
  EXPECT_TRUE(s.Add(std::numeric_limits<double>::denorm_min()));
  EXPECT_EQ(s.zeros(), 1u);
}

TEST(QuantileSketchTest, RefusesBadValuesAndQuantiles) {
  QuantileSketch s;
  EXPECT_EQ(s.Quantile(0.5), std::nullopt);  // empty
  EXPECT_FALSE(s.Add(-1));
  EXPECT_FALSE(s.Add(std::nan("")));
  EXPECT_FALSE(s.Add(std::numeric_limits<double>::infinity()));
  EXPECT_FALSE(s.Add(std::numeric_limits<double>::max()));
  EXPECT_EQ(s, QuantileSketch());
  ASSERT_TRUE(s.Add(5));
  EXPECT_EQ(s.Quantile(-0.1), std::nullopt);
  EXPECT_EQ(s.Quantile(1.1), std::nullopt);
  EXPECT_EQ(s.Quantile(std::nan("")), std::nullopt);
  EXPECT_FALSE(s.Add(1, std::numeric_limits<uint64_t>::max()));  // count overflow
  EXPECT_EQ(s.Count(), 1u);

  EXPECT_FALSE(QuantileSketch::Create(0).ok());
  EXPECT_FALSE(QuantileSketch::Create(0.9).ok());
  EXPECT_FALSE(QuantileSketch::Create(std::nan("")).ok());
  EXPECT_FALSE(QuantileSketch::Create(0.01, 3).ok());
}

TEST(QuantileSketchTest, MergeEqualsSketchOfUnion) {
  for (const auto& [name, values] : std::vector<std::pair<std::string, std::vector<double>>>{
           {"uniform", Uniform(30000, 7, 0, 500)},
           {"lognormal", LogNormal(30000, 8)},
           {"zeros", WithZeros(30000, 9)}}) {
    QuantileSketch parts[3];
    for (size_t i = 0; i < values.size(); ++i) ASSERT_TRUE(parts[i % 3].Add(values[i]));
    QuantileSketch merged;
    for (const auto& p : parts) ASSERT_TRUE(merged.Merge(p).ok());
    EXPECT_EQ(merged, SketchOf(values)) << name;
    ExpectWithinAccuracy(merged, values, name + " merged");
  }
}

TEST(QuantileSketchTest, CollapsesLowestBucketsAndMergeStillEqualsUnion) {
  // 16 buckets at 1% cover a factor of ~1.4; these values span 1e-6 .. 1e6.
  std::mt19937_64 rng(10);
  std::uniform_real_distribution<double> exp10(-6, 6);
  std::vector<double> values(5000);
  for (auto& x : values) x = std::pow(10, exp10(rng));
  const QuantileSketch whole = SketchOf(values, 0.01, 16);
  EXPECT_EQ(whole.bucket_count(), 16u);
  ASSERT_TRUE(whole.collapse_floor().has_value());
  EXPECT_EQ(whole.Count(), values.size());

  // Split unevenly so the parts collapse at different floors.
  std::vector<double> a(values.begin(), values.begin() + 700);
  std::vector<double> b(values.begin() + 700, values.end());
  QuantileSketch sa = SketchOf(a, 0.01, 16);
  QuantileSketch sb = SketchOf(b, 0.01, 16);
  ASSERT_TRUE(sa.Merge(sb).ok());
  EXPECT_EQ(sa, whole);
  QuantileSketch sb2 = SketchOf(b, 0.01, 16);
  ASSERT_TRUE(sb2.Merge(SketchOf(a, 0.01, 16)).ok());
  EXPECT_EQ(sb2, whole);

  // Quantiles above the collapsed bucket keep the accuracy.
  std::sort(values.begin(), values.end());
  const double top = ExactQuantile(values, 0.999);
  EXPECT_LE(std::abs(*whole.Quantile(0.999) - top), 0.01 * top * (1 + 1e-9));
  // Low ranks answer the floor bucket: too high, never too low.
  EXPECT_GE(*whole.Quantile(0.0), values.front());
}

TEST(QuantileSketchTest, MergeRefusesDifferentAccuracy) {
  QuantileSketch a;
  auto b = QuantileSketch::Create(0.02);
  ASSERT_TRUE(b.ok());
  ASSERT_TRUE(b->Add(3));
  EXPECT_EQ(a.Merge(*b).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(a.empty());
}

TEST(QuantileSketchTest, AddThenRemoveLeavesTheSketchAsBefore) {
  const auto base_values = LogNormal(10000, 11);
  QuantileSketch s = SketchOf(base_values);
  const QuantileSketch before = s;
  const std::string before_bytes = before.SerializeAsString();

  auto extra = WithZeros(5000, 12);
  for (double v : extra) ASSERT_TRUE(s.Add(v));
  ASSERT_TRUE(s.Add(7.5, 40));
  EXPECT_NE(s, before);
  std::shuffle(extra.begin(), extra.end(), std::mt19937_64(13));
  for (double v : extra) ASSERT_TRUE(s.Remove(v));
  ASSERT_TRUE(s.Remove(7.5, 40));
  EXPECT_EQ(s, before);
  EXPECT_EQ(s.Count(), base_values.size());
  auto reread = QuantileSketch::Parse(s.SerializeAsString());
  ASSERT_TRUE(reread.ok());
  EXPECT_EQ(*reread, *QuantileSketch::Parse(before_bytes));

  // Everything out: the empty sketch.
  for (double v : base_values) ASSERT_TRUE(s.Remove(v));
  EXPECT_EQ(s, QuantileSketch());
}

TEST(QuantileSketchTest, ValuesThatChangeMatchAFreshSketch) {
  // Customers' values move: remove the old one, add the new one.
  auto values = LogNormal(5000, 14);
  QuantileSketch s = SketchOf(values);
  std::mt19937_64 rng(15);
  std::uniform_int_distribution<size_t> pick(0, values.size() - 1);
  std::lognormal_distribution<double> d(3.0, 2.0);
  for (int i = 0; i < 20000; ++i) {
    double& v = values[pick(rng)];
    const double next = i % 10 == 0 ? 0.0 : d(rng);
    ASSERT_TRUE(s.Remove(v));
    ASSERT_TRUE(s.Add(next));
    v = next;
  }
  EXPECT_EQ(s, SketchOf(values));
  ExpectWithinAccuracy(s, values, "after changes");
}

TEST(QuantileSketchTest, RemoveRefusesWhatIsNotThere) {
  QuantileSketch s = SketchOf({1, 2, 3, 0});
  const QuantileSketch before = s;
  EXPECT_FALSE(s.Remove(1000));  // empty bucket
  EXPECT_FALSE(s.Remove(2, 2));  // more than the bucket holds
  EXPECT_FALSE(s.Remove(0, 2));  // more zeros than held
  EXPECT_FALSE(s.Remove(-2));    // a value Add refuses
  EXPECT_FALSE(s.Remove(std::nan("")));
  EXPECT_EQ(s, before);
}

TEST(QuantileSketchTest, RemoveAfterCollapseAndReload) {
  std::vector<double> values;
  for (int i = 0; i < 200; ++i) values.push_back(std::pow(1.1, i));  // ~1 .. 1.9e8
  QuantileSketch s = SketchOf(values, 0.01, 16);
  ASSERT_TRUE(s.collapse_floor().has_value());
  // Reloaded, the floor survives, so a collapsed value can still be removed.
  auto reloaded = QuantileSketch::Parse(s.SerializeAsString(), 16);
  ASSERT_TRUE(reloaded.ok());
  EXPECT_EQ(*reloaded, s);
  for (double v : values) ASSERT_TRUE(reloaded->Remove(v)) << v;
  EXPECT_TRUE(reloaded->empty());
  EXPECT_EQ(reloaded->bucket_count(), 0u);
}

TEST(QuantileSketchTest, ProtobufRoundTrip) {
  for (const auto& s :
       {QuantileSketch(), SketchOf(WithZeros(20000, 16)), SketchOf(LogNormal(20000, 17), 0.002),
        SketchOf(LogNormal(3000, 18), 0.01, 16)}) {
    v1::QuantileSketch pb;
    s.ToProto(&pb);
    EXPECT_EQ(pb.relative_accuracy(), s.relative_accuracy());
    EXPECT_EQ(pb.zeros(), s.zeros());
    EXPECT_EQ(static_cast<size_t>(pb.buckets_size()), s.bucket_count());
    auto back = QuantileSketch::FromProto(pb, s.max_buckets());
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(*back, s);
    auto parsed = QuantileSketch::Parse(s.SerializeAsString(), s.max_buckets());
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, s);
    for (double q : Qs()) EXPECT_EQ(parsed->Quantile(q), s.Quantile(q));
  }
  // A smaller bound at read time collapses as Add would.
  auto narrow = QuantileSketch::Parse(SketchOf(LogNormal(3000, 19)).SerializeAsString(), 16);
  ASSERT_TRUE(narrow.ok());
  EXPECT_EQ(narrow->bucket_count(), 16u);
  EXPECT_EQ(narrow->Count(), 3000u);
}

TEST(QuantileSketchTest, BadProtobufIsAnErrorNotACrash) {
  auto expect_error = [](const v1::QuantileSketch& pb, const char* what) {
    auto r = QuantileSketch::FromProto(pb);
    EXPECT_FALSE(r.ok()) << what;
  };
  v1::QuantileSketch pb;
  expect_error(pb, "accuracy 0");
  pb.set_relative_accuracy(std::nan(""));
  expect_error(pb, "accuracy NaN");
  pb.set_relative_accuracy(-0.01);
  expect_error(pb, "negative accuracy");
  pb.set_relative_accuracy(0.01);
  (*pb.mutable_buckets())[40000] = 1;
  expect_error(pb, "key above range");
  pb.clear_buckets();
  (*pb.mutable_buckets())[-40000] = 1;
  expect_error(pb, "key below range");
  pb.clear_buckets();
  (*pb.mutable_buckets())[1] = std::numeric_limits<uint64_t>::max();
  (*pb.mutable_buckets())[2] = 2;
  expect_error(pb, "count overflow");
  pb.clear_buckets();
  pb.set_zeros(std::numeric_limits<uint64_t>::max());
  (*pb.mutable_buckets())[2] = 1;
  expect_error(pb, "zeros overflow");
  pb.set_zeros(0);
  pb.set_collapse_floor(5);
  expect_error(pb, "bucket below floor");
  pb.set_collapse_floor(1 << 30);
  expect_error(pb, "floor out of range");
  EXPECT_FALSE(QuantileSketch::Parse("\xff\xff\xff garbage").ok());

  // Zero-count buckets are dropped, not kept as empty buckets.
  v1::QuantileSketch zeros_only;
  zeros_only.set_relative_accuracy(0.01);
  (*zeros_only.mutable_buckets())[3] = 0;
  auto z = QuantileSketch::FromProto(zeros_only);
  ASSERT_TRUE(z.ok());
  EXPECT_EQ(*z, QuantileSketch());

  // Random bytes and bit flips of a valid sketch: an error or a usable sketch.
  const std::string valid = SketchOf(LogNormal(2000, 20)).SerializeAsString();
  std::mt19937_64 rng(21);
  int parsed_ok = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string bytes = valid;
    if (i % 3 == 0) {
      bytes.resize(rng() % 64);
      for (auto& c : bytes) c = static_cast<char>(rng());
    } else {
      for (int f = 0; f < 1 + i % 4; ++f)
        bytes[rng() % bytes.size()] ^= static_cast<char>(1 << (rng() % 8));
    }
    auto r = QuantileSketch::Parse(bytes);
    if (!r.ok()) continue;
    ++parsed_ok;
    uint64_t total = r->zeros();
    for (double q : Qs()) {
      auto v = r->Quantile(q);
      if (r->empty()) {
        EXPECT_FALSE(v.has_value());
      } else {
        ASSERT_TRUE(v.has_value());
        EXPECT_TRUE(std::isfinite(*v));
      }
    }
    EXPECT_GE(r->Count(), total);
    QuantileSketch copy = *r;
    (void)copy.Merge(*r);
  }
  EXPECT_GT(parsed_ok, 0);  // the flips do reach the reader, not only the parser
}

}  // namespace
}  // namespace cairn
