#include "api/dashboard_assets.h"

#include <algorithm>

namespace cairn::api {

const DashboardAsset* FindDashboardAsset(std::string_view path) {
  const auto all = DashboardAssets();
  const auto it =
      std::lower_bound(all.begin(), all.end(), path,
                       [](const DashboardAsset& a, std::string_view p) { return a.path < p; });
  return it != all.end() && it->path == path ? &*it : nullptr;
}

}  // namespace cairn::api
