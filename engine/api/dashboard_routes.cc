#include "api/dashboard_routes.h"

#include <string>

#include "api/dashboard_assets.h"

namespace cairn::api {
namespace {

constexpr std::string_view kImmutable = "public, max-age=31536000, immutable";
constexpr std::string_view kRevalidate = "no-cache";
// Scripts, styles and API calls from this origin only; Chart.js draws on a
// canvas and sets styles through the CSSOM, which this policy allows.
constexpr std::string_view kPolicy =
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'";

bool EtagMatches(const std::string& if_none_match, std::string_view etag) {
  if (if_none_match.empty()) return false;
  if (if_none_match == "*") return true;
  // A comma-separated list, maybe with weak validators (W/"...").
  size_t pos = 0;
  while (pos < if_none_match.size()) {
    size_t end = if_none_match.find(',', pos);
    if (end == std::string::npos) end = if_none_match.size();
    std::string_view tag(if_none_match.data() + pos, end - pos);
    while (!tag.empty() && tag.front() == ' ') tag.remove_prefix(1);
    while (!tag.empty() && tag.back() == ' ') tag.remove_suffix(1);
    if (tag.starts_with("W/")) tag.remove_prefix(2);
    if (tag == etag) return true;
    pos = end + 1;
  }
  return false;
}

HttpResponse Serve(const HttpRequest& req, const DashboardAsset& a, std::string_view cache) {
  HttpResponse res;
  res.headers = {{"ETag", std::string(a.etag)},
                 {"Cache-Control", std::string(cache)},
                 {"X-Content-Type-Options", "nosniff"}};
  if (a.path == "index.html") {
    res.headers.emplace_back("Content-Security-Policy", std::string(kPolicy));
    res.headers.emplace_back("Referrer-Policy", "no-referrer");
  }
  if (EtagMatches(req.Header("if-none-match"), a.etag)) {
    res.status = 304;
    res.content_type = std::string(a.content_type);
    return res;
  }
  res.status = 200;
  res.content_type = std::string(a.content_type);
  res.body = std::string(a.body);
  return res;
}

HttpResponse Redirect(std::string location) {
  HttpResponse res;
  res.status = 302;
  res.content_type = "text/plain; charset=utf-8";
  res.body = "see " + location + "\n";
  res.headers = {{"Location", std::move(location)}};
  return res;
}

HttpResponse Index(const HttpRequest& req) {
  const DashboardAsset* index = FindDashboardAsset("index.html");
  if (index == nullptr) {
    return HttpResponse::Error(404, "dashboard_not_built",
                               "this binary was built without the dashboard");
  }
  return Serve(req, *index, kRevalidate);
}

}  // namespace

std::vector<Route> DashboardRoutes() {
  std::vector<Route> routes;
  routes.push_back({"GET", {}, [](const HttpRequest&) { return Redirect("/dashboard/"); }});
  routes.push_back(
      {"GET", {"dashboard"}, [](const HttpRequest&) { return Redirect("/dashboard/"); }});
  routes.push_back({"GET", {"dashboard", ""}, Index});
  routes.push_back({"GET", {"dashboard", "index.html"}, Index});
  routes.push_back({"GET", {"dashboard", "assets", "*"}, [](const HttpRequest& req) {
                      const std::string path = "assets/" + req.segments[2];
                      const DashboardAsset* a = FindDashboardAsset(path);
                      if (a == nullptr) {
                        return HttpResponse::Error(404, "asset_not_found",
                                                   "no dashboard asset '" + req.segments[2] + "'");
                      }
                      return Serve(req, *a, kImmutable);
                    }});
  // Static files and redirects hold no data: no token needed to load them.
  for (auto& r : routes) r.access = Access::kOpen;
  return routes;
}

}  // namespace cairn::api
