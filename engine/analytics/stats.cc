#include "analytics/stats.h"

#include <cmath>

namespace cairn::analytics {

Uplift TwoProportionZTest(uint64_t conv_a, uint64_t n_a, uint64_t conv_b, uint64_t n_b) {
  Uplift u;
  if (n_a == 0 || n_b == 0) return u;
  const double na = static_cast<double>(n_a), nb = static_cast<double>(n_b);
  const double pa = static_cast<double>(conv_a) / na, pb = static_cast<double>(conv_b) / nb;
  u.absolute = pa - pb;
  if (pb > 0) u.relative = u.absolute / pb;
  const double se_unpooled = std::sqrt(pa * (1 - pa) / na + pb * (1 - pb) / nb);
  constexpr double kZ95 = 1.959963984540054;
  u.ci_low = u.absolute - kZ95 * se_unpooled;
  u.ci_high = u.absolute + kZ95 * se_unpooled;
  const double pooled = static_cast<double>(conv_a + conv_b) / (na + nb);
  const double se = std::sqrt(pooled * (1 - pooled) * (1 / na + 1 / nb));
  if (se <= 0) return u;
  u.z = u.absolute / se;
  u.p_value = std::erfc(std::fabs(u.z) / std::sqrt(2.0));
  u.significant = u.p_value < 0.05;
  return u;
}

std::optional<double> HistogramQuantile(const std::vector<double>& bounds,
                                        const std::vector<uint64_t>& counts, double q) {
  uint64_t total = 0;
  for (auto c : counts) total += c;
  if (total == 0 || bounds.size() != counts.size()) return std::nullopt;
  const double rank = q * static_cast<double>(total);
  double seen = 0;
  for (size_t b = 0; b < counts.size(); ++b) {
    if (counts[b] == 0) continue;
    const double next = seen + static_cast<double>(counts[b]);
    if (next >= rank) {
      const double lo = b == 0 ? 0 : bounds[b - 1];
      const double hi = bounds[b];
      if (!std::isfinite(hi)) return lo;
      const double f = (rank - seen) / static_cast<double>(counts[b]);
      if (lo <= 0) return hi * f;
      return lo * std::pow(hi / lo, f);  // log-linear: the buckets grow geometrically
    }
    seen = next;
  }
  return bounds.size() >= 2 ? bounds[bounds.size() - 2] : 0;
}

}  // namespace cairn::analytics
