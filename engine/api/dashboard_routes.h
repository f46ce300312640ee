// The dashboard (docs/dashboard.md), served from the assets compiled into the
// binary (api/dashboard_assets.h):
//   GET /                            302 to /dashboard/
//   GET /dashboard                   302 to /dashboard/
//   GET /dashboard/                  index.html (Cache-Control: no-cache: revalidated by ETag)
//   GET /dashboard/assets/{file}     a content-hashed bundle (cached for a year, immutable)
// Every answer carries a strong ETag; If-None-Match with it answers 304.
// Unknown assets answer 404 {"error":{"code":"asset_not_found",...}}.
// The assets hold no data, so these routes need no token: the page asks the
// admin API for data with the token the user typed in.
#pragma once

#include <vector>

#include "api/http_server.h"

namespace cairn::api {

std::vector<Route> DashboardRoutes();

}  // namespace cairn::api
