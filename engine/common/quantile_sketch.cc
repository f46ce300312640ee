#include "cairn/quantile_sketch.h"

#include <cmath>
#include <iterator>
#include <limits>
#include <utility>

#include "cairn/v1/state.pb.h"

namespace cairn {
namespace {

constexpr double kMinIndexable = std::numeric_limits<double>::min();  // smallest normal

bool AddOverflows(uint64_t a, uint64_t b) { return a > std::numeric_limits<uint64_t>::max() - b; }

}  // namespace

QuantileSketch::QuantileSketch() : QuantileSketch(kDefaultRelativeAccuracy, kDefaultMaxBuckets) {}

QuantileSketch::QuantileSketch(double relative_accuracy, int max_buckets)
    : relative_accuracy_(relative_accuracy),
      max_buckets_(max_buckets),
      gamma_((1 + relative_accuracy) / (1 - relative_accuracy)),
      log_gamma_(std::log(gamma_)) {}

Result<QuantileSketch> QuantileSketch::Create(double relative_accuracy, int max_buckets) {
  // The negated form also refuses NaN.
  if (!(relative_accuracy >= kMinRelativeAccuracy && relative_accuracy <= kMaxRelativeAccuracy)) {
    return InvalidArgument("quantile sketch: relative accuracy must be in [0.0001, 0.5]");
  }
  if (max_buckets < kMinMaxBuckets) {
    return InvalidArgument("quantile sketch: max_buckets must be at least 16");
  }
  return QuantileSketch(relative_accuracy, max_buckets);
}

double QuantileSketch::max_indexable() const {
  // The answer of the top bucket, 2 g^k / (g + 1) <= g * x, must stay finite.
  return std::numeric_limits<double>::max() / gamma_;
}

int32_t QuantileSketch::KeyOf(double value) const {
  return static_cast<int32_t>(std::ceil(std::log(value) / log_gamma_));
}

int32_t QuantileSketch::MinKey() const { return KeyOf(kMinIndexable); }
int32_t QuantileSketch::MaxKey() const { return KeyOf(max_indexable()); }

int32_t QuantileSketch::StoredKey(int32_t key) const {
  return collapse_floor_ && key < *collapse_floor_ ? *collapse_floor_ : key;
}

double QuantileSketch::ValueOf(int32_t key) const {
  // Midpoint (in relative terms) of (g^(k-1), g^k].
  // Computed in log space: g^k itself may overflow for the top keys.
  const double v = std::exp(key * log_gamma_ + std::log(2 / (gamma_ + 1)));
  return std::isfinite(v) ? v : std::numeric_limits<double>::max();
}

bool QuantileSketch::Classify(double value, bool* zero, int32_t* key) const {
  if (!(value >= 0) || !std::isfinite(value) || value > max_indexable()) return false;
  *zero = value < kMinIndexable;
  if (!*zero) *key = StoredKey(KeyOf(value));
  return true;
}

bool QuantileSketch::Add(double value, uint64_t count) {
  bool zero = false;
  int32_t key = 0;
  if (!Classify(value, &zero, &key) || AddOverflows(count_, count)) return false;
  if (count == 0) return true;
  count_ += count;
  if (zero) {
    zeros_ += count;
    return true;
  }
  buckets_[key] += count;
  CollapseIfNeeded();
  return true;
}

bool QuantileSketch::Remove(double value, uint64_t count) {
  bool zero = false;
  int32_t key = 0;
  if (!Classify(value, &zero, &key)) return false;
  if (count == 0) return true;
  if (zero) {
    if (zeros_ < count) return false;
    zeros_ -= count;
    count_ -= count;
    return true;
  }
  auto it = buckets_.find(key);
  if (it == buckets_.end() || it->second < count) return false;
  it->second -= count;
  count_ -= count;
  if (it->second == 0) buckets_.erase(it);
  return true;
}

void QuantileSketch::CollapseIfNeeded() {
  if (buckets_.size() <= static_cast<size_t>(max_buckets_)) return;
  // Keep the top max_buckets_ keys; the lowest kept one absorbs the rest.
  auto keep = std::prev(buckets_.end(), max_buckets_);
  uint64_t absorbed = 0;
  for (auto it = buckets_.begin(); it != keep; ++it) absorbed += it->second;
  buckets_.erase(buckets_.begin(), keep);
  keep->second += absorbed;
  collapse_floor_ = keep->first;
}

Status QuantileSketch::Merge(const QuantileSketch& other) {
  if (other.relative_accuracy_ != relative_accuracy_) {
    return InvalidArgument("quantile sketch: cannot merge sketches of different accuracy");
  }
  if (AddOverflows(count_, other.count_)) {
    return Status(StatusCode::kResourceExhausted, "quantile sketch: merged count overflows");
  }
  if (other.collapse_floor_ && (!collapse_floor_ || *other.collapse_floor_ > *collapse_floor_)) {
    // Raise our floor first: our buckets below it move into it.
    const int32_t floor = *other.collapse_floor_;
    uint64_t absorbed = 0;
    auto end = buckets_.lower_bound(floor);
    for (auto it = buckets_.begin(); it != end; ++it) absorbed += it->second;
    buckets_.erase(buckets_.begin(), end);
    if (absorbed > 0) buckets_[floor] += absorbed;
    collapse_floor_ = floor;
  }
  for (const auto& [key, n] : other.buckets_) buckets_[StoredKey(key)] += n;
  zeros_ += other.zeros_;
  count_ += other.count_;
  CollapseIfNeeded();
  return Status::Ok();
}

std::optional<double> QuantileSketch::Quantile(double q) const {
  if (count_ == 0 || !(q >= 0 && q <= 1)) return std::nullopt;
  // Rank of the lower quantile, 0-based: floor(q * (n - 1)).
  const auto rank = static_cast<uint64_t>(std::floor(q * static_cast<double>(count_ - 1)));
  if (rank < zeros_) return 0.0;
  uint64_t seen = zeros_;
  for (const auto& [key, n] : buckets_) {
    seen += n;
    if (seen > rank) return ValueOf(key);
  }
  return ValueOf(buckets_.rbegin()->first);  // unreachable while counts add up
}

void QuantileSketch::Clear() {
  buckets_.clear();
  zeros_ = 0;
  count_ = 0;
  collapse_floor_.reset();
}

void QuantileSketch::ToProto(v1::QuantileSketch* out) const {
  out->Clear();
  out->set_relative_accuracy(relative_accuracy_);
  out->set_zeros(zeros_);
  auto* map = out->mutable_buckets();
  for (const auto& [key, n] : buckets_) (*map)[key] = n;
  if (collapse_floor_) out->set_collapse_floor(*collapse_floor_);
}

std::string QuantileSketch::SerializeAsString() const {
  v1::QuantileSketch pb;
  ToProto(&pb);
  return pb.SerializeAsString();
}

Result<QuantileSketch> QuantileSketch::FromProto(const v1::QuantileSketch& in, int max_buckets) {
  auto made = Create(in.relative_accuracy(), max_buckets);
  if (!made.ok()) return made.status();
  QuantileSketch s = std::move(made).value();
  const int32_t lo = s.MinKey();
  const int32_t hi = s.MaxKey();
  if (in.has_collapse_floor()) {
    if (in.collapse_floor() < lo || in.collapse_floor() > hi) {
      return DataLoss("quantile sketch: collapse floor out of range");
    }
    s.collapse_floor_ = in.collapse_floor();
  }
  s.zeros_ = in.zeros();
  s.count_ = in.zeros();
  for (const auto& [key, n] : in.buckets()) {
    if (n == 0) continue;
    if (key < lo || key > hi) return DataLoss("quantile sketch: bucket key out of range");
    if (s.collapse_floor_ && key < *s.collapse_floor_) {
      return DataLoss("quantile sketch: bucket below the collapse floor");
    }
    if (AddOverflows(s.count_, n)) return DataLoss("quantile sketch: total count overflows");
    s.count_ += n;
    s.buckets_[key] = n;
  }
  s.CollapseIfNeeded();
  return s;
}

Result<QuantileSketch> QuantileSketch::Parse(std::string_view bytes, int max_buckets) {
  v1::QuantileSketch pb;
  if (bytes.size() > static_cast<size_t>(std::numeric_limits<int>::max()) ||
      !pb.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return DataLoss("quantile sketch: not a cairn.v1.QuantileSketch");
  }
  return FromProto(pb, max_buckets);
}

}  // namespace cairn
