// QuantileSketch: a mergeable relative-error quantile sketch over
// non-negative doubles, in the style of DDSketch (Masson, Rim, Lee, VLDB 2019).
//
// Used for RFM quantile scores: one sketch per partition holds the current
// population's recency / frequency / monetary values; when a customer's value
// changes the old value is removed and the new one added, sketches of
// partitions merge into one, and it is persisted as cairn.v1.QuantileSketch.
//
// Contract
// - Values are mapped to log-spaced buckets: key(x) = ceil(log(x) / log(g)),
//   g = (1 + a) / (1 - a) for the relative accuracy a (default 0.01). A bucket
//   answers 2 g^k / (g + 1), so Quantile(q) is within a relative error a of
//   the exact lower q-quantile, the element of rank floor(q * (Count() - 1))
//   of the sorted values, for every q whose element is not in a collapsed
//   bucket (below).
// - Zero (and positive values below the smallest normal double, which cannot
//   be told apart from it at any useful accuracy) is counted apart, exactly;
//   the quantile of a rank that falls on it is 0.
// - Negative, NaN and infinite values are refused (Add/Remove return false
//   and change nothing). Values above max_indexable() are refused too.
// - Counts are exact integers. Remove(x, n) is exact: it takes n from the
//   bucket x maps to, and Add(x, n) then Remove(x, n) leaves the sketch equal
//   (operator==, and the same protobuf) to what it was, as long as the Add
//   did not trigger a collapse. Removing more than a bucket holds is refused
//   and changes nothing (the caller's bookkeeping is wrong; say so).
// - Bounded size: at most max_buckets non-zero buckets (default 2048). When
//   an Add or Merge would exceed it, the lowest buckets are collapsed into
//   the lowest bucket kept (as DDSketch's "collapsing lowest" store does), and
//   every later value below that key lands in it too (collapse_floor()). Only
//   low quantiles lose accuracy, and only when the data span more than
//   g^max_buckets (about 1e17 at a = 0.01, 2048 buckets): in practice never
//   for money, counts or days. Estimates for ranks in the collapsed bucket
//   are too high (they answer the floor bucket's value).
// - Merge(other) needs the same relative accuracy; it adds the counts bucket
//   by bucket, so merging sketches equals the sketch of the union of their
//   values (exactly, while neither is collapsed).
//
// Threads: none of its own; not synchronised (one owner at a time).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "cairn/status.h"

namespace cairn {
namespace v1 {
class QuantileSketch;
}

class QuantileSketch {
 public:
  static constexpr double kDefaultRelativeAccuracy = 0.01;
  static constexpr int kDefaultMaxBuckets = 2048;
  static constexpr double kMinRelativeAccuracy = 1e-4;
  static constexpr double kMaxRelativeAccuracy = 0.5;
  static constexpr int kMinMaxBuckets = 16;

  // A sketch with the default accuracy (1%) and bound (2048 buckets).
  QuantileSketch();

  // relative_accuracy in [1e-4, 0.5]; max_buckets >= 16.
  static Result<QuantileSketch> Create(double relative_accuracy,
                                       int max_buckets = kDefaultMaxBuckets);

  // Adds `count` occurrences of `value`. False (and nothing changes) when
  // value is negative, NaN, infinite or above max_indexable(), or when the
  // total count would overflow.
  bool Add(double value, uint64_t count = 1);

  // Removes `count` occurrences of `value` (see the contract above). False,
  // and nothing changes, for a value Add refuses or when the bucket of
  // `value` holds fewer than `count`.
  bool Remove(double value, uint64_t count = 1);

  // Adds every count of `other`. InvalidArgument when the relative
  // accuracies differ; ResourceExhausted when the total would overflow. On
  // error nothing changes.
  Status Merge(const QuantileSketch& other);

  // The lower q-quantile, q in [0, 1]. nullopt when the sketch is empty or q
  // is outside [0, 1] (or NaN).
  std::optional<double> Quantile(double q) const;

  // Number of values held (zeros included).
  uint64_t Count() const { return count_; }
  bool empty() const { return count_ == 0; }
  uint64_t zeros() const { return zeros_; }
  // Number of non-empty log buckets (zeros not included).
  size_t bucket_count() const { return buckets_.size(); }
  double relative_accuracy() const { return relative_accuracy_; }
  int max_buckets() const { return max_buckets_; }
  // The largest value Add accepts.
  double max_indexable() const;
  // The key every lower key collapses into, once a collapse happened.
  std::optional<int32_t> collapse_floor() const { return collapse_floor_; }

  void Clear();

  // Same accuracy, bound, floor and counts.
  bool operator==(const QuantileSketch& other) const = default;

  // Protobuf form (cairn.v1.QuantileSketch). The bound (max_buckets) is not
  // stored: it is the reader's choice, given to FromProto.
  void ToProto(v1::QuantileSketch* out) const;
  std::string SerializeAsString() const;

  // Reads a stored sketch. Never crashes on bad input: an accuracy out of
  // range, a key outside the range the accuracy can produce, counts that
  // overflow, or a bucket below the stored collapse floor give
  // InvalidArgument / DataLoss. Zero-count buckets are dropped. More buckets
  // than max_buckets are collapsed as Add would.
  static Result<QuantileSketch> FromProto(const v1::QuantileSketch& in,
                                          int max_buckets = kDefaultMaxBuckets);
  static Result<QuantileSketch> Parse(std::string_view bytes, int max_buckets = kDefaultMaxBuckets);

 private:
  QuantileSketch(double relative_accuracy, int max_buckets);
  // The bucket key of a value accepted by Add (> 0 and normal).
  int32_t KeyOf(double value) const;
  // The key a value lands in once the collapse floor is applied.
  int32_t StoredKey(int32_t key) const;
  double ValueOf(int32_t key) const;
  int32_t MinKey() const;
  int32_t MaxKey() const;
  // Collapses the lowest buckets until at most max_buckets_ remain.
  void CollapseIfNeeded();
  // False when value is not acceptable; sets *zero or *key.
  bool Classify(double value, bool* zero, int32_t* key) const;

  double relative_accuracy_;
  int max_buckets_;
  double gamma_;
  double log_gamma_;
  std::map<int32_t, uint64_t> buckets_;  // key -> count (> 0)
  uint64_t zeros_ = 0;
  uint64_t count_ = 0;
  std::optional<int32_t> collapse_floor_;
};

}  // namespace cairn
