// docs/openapi.yaml describes exactly the routes the server registers: every
// route (method + path) is an operation with the right listener and security,
// and every operation is a route. The route groups are the ones `cairn run`
// assembles (engine/app/commands.cc); a new group is added to AllRoutes().

// GCC 12 reports -Wnull-dereference inside Asio once inlined (a false
// positive at the Boost line); silenced before any header.
#pragma GCC diagnostic ignored "-Wnull-dereference"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

#include "api/dashboard_routes.h"
#include "api/engine_api.h"
#include "api/events_routes.h"
#include "api/http_server.h"
#include "api/labels_routes.h"
#include "api/tracking_routes.h"

namespace cairn::api {
namespace {

// Every route `cairn run` serves (handlers are never called here).
std::vector<Route> AllRoutes() {
  std::vector<Route> all;
  auto add = [&](std::vector<Route> more) {
    for (auto& r : more) all.push_back(std::move(r));
  };
  add(EngineRoutes(EngineApiContext{}));  // incl. ProfileRoutes
  add(TrackingRoutes(nullptr, nullptr, nullptr));
  add(LabelRoutes(nullptr));
  add(EventsRoutes(nullptr, nullptr));
  add(DashboardRoutes());
  // metrics::Metrics::Route() (engine/metrics) serves GET /metrics on the
  // admin listener, scoped unless http.metrics_public.
  all.push_back({"GET", {"metrics"}, nullptr});
  return all;
}

// "/v1/customers/{id}" -> "/v1/customers/{}".
std::string Normalize(const std::string& path) {
  std::string out;
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '{') {
      out += "{}";
      i = path.find('}', i);
      if (i == std::string::npos) break;
    } else {
      out += path[i];
    }
  }
  return out;
}

// "/v1/journeys/{}:pause" -> "/v1/journeys/{}": one "*" route serves the
// custom methods (AIP-136 style `{id}:verb`) of a resource.
std::string CollapseActions(std::string path) {
  for (size_t at = path.find("{}:"); at != std::string::npos; at = path.find("{}:", at + 2)) {
    size_t end = at + 3;
    while (end < path.size() && path[end] != '/') ++end;
    path.erase(at + 2, end - (at + 2));
  }
  return path;
}

std::string Upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

struct Operation {
  std::string listener;
  bool open = false;  // security: []
};

std::map<std::string, Operation> LoadOperations() {
  YAML::Node doc = YAML::LoadFile(std::string(CAIRN_SOURCE_DIR) + "/docs/openapi.yaml");
  std::map<std::string, Operation> ops;
  for (const auto& path : doc["paths"]) {
    for (const auto& op : path.second) {
      const std::string method = op.first.as<std::string>();
      if (method == "parameters" || method == "summary" || method == "description") continue;
      Operation o;
      if (op.second["x-cairn-listener"])
        o.listener = op.second["x-cairn-listener"].as<std::string>();
      if (auto sec = op.second["security"]; sec && sec.IsSequence() && sec.size() == 0) {
        o.open = true;
      }
      ops[Upper(method) + " " + CollapseActions(Normalize(path.first.as<std::string>()))] = o;
    }
  }
  return ops;
}

TEST(OpenApiRoutesTest, EveryRouteIsDocumentedWithItsListenerAndSecurity) {
  const auto ops = LoadOperations();
  ASSERT_FALSE(ops.empty());
  for (const auto& r : AllRoutes()) {
    const std::string key = r.method + " " + RoutePath(r);
    auto it = ops.find(key);
    ASSERT_NE(it, ops.end()) << key << " is served but not in docs/openapi.yaml";
    const bool is_public = r.exposure == Exposure::kPublic;
    EXPECT_EQ(it->second.listener, is_public ? "public" : "admin") << key;
    EXPECT_EQ(it->second.open, is_public || r.access == Access::kOpen)
        << key << ": `security: []` exactly on routes that need no token";
  }
}

TEST(OpenApiRoutesTest, EveryDocumentedOperationIsARoute) {
  std::set<std::string> served;
  for (const auto& r : AllRoutes()) served.insert(r.method + " " + RoutePath(r));
  for (const auto& [key, op] : LoadOperations()) {
    EXPECT_TRUE(served.count(key)) << key << " is in docs/openapi.yaml but no route serves it";
  }
}

TEST(OpenApiRoutesTest, RoutePathsAreWhatTheTestCompares) {
  Route r{"GET", {"v1", "customers", "*", "journeys"}, nullptr};
  EXPECT_EQ(RoutePath(r), "/v1/customers/{}/journeys");
  EXPECT_EQ(Normalize("/v1/customers/{id}/journeys"), "/v1/customers/{}/journeys");
  EXPECT_EQ(CollapseActions(Normalize("/v1/journeys/{id}:pause")), "/v1/journeys/{}");
}

}  // namespace
}  // namespace cairn::api
