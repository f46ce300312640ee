// Statistics of the analytics API: the two-proportion z-test used for A/B
// arms and the holdout, and quantiles from the interval histogram.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace cairn::analytics {

struct Uplift {
  double absolute = 0;             // p_arm - p_control (conversion rates)
  std::optional<double> relative;  // absolute / p_control; none when p_control is 0
  double ci_low = 0, ci_high = 0;  // 95% confidence interval of `absolute` (unpooled SE)
  double z = 0;                    // pooled two-proportion z statistic
  double p_value = 1;              // two-sided
  bool significant = false;        // p_value < 0.05
};

// Conversion `conv_a` of `n_a` (the arm) against `conv_b` of `n_b` (control).
// With an empty group (n = 0) or a pooled rate of 0 or 1 there is no test:
// z = 0, p = 1, not significant.
Uplift TwoProportionZTest(uint64_t conv_a, uint64_t n_a, uint64_t conv_b, uint64_t n_b);

// The `q` quantile (0..1) of a histogram with upper bounds `bounds` (the
// last may be +inf) and counts `counts`, interpolated log-linearly inside the
// bucket (linearly in the first). nullopt when empty. A quantile in the
// unbounded bucket is its lower bound.
std::optional<double> HistogramQuantile(const std::vector<double>& bounds,
                                        const std::vector<uint64_t>& counts, double q);

}  // namespace cairn::analytics
