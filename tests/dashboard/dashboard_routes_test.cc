// The dashboard's routes on a real HttpServer: every embedded asset is served
// byte for byte with its type and ETag, index.html names only assets that
// exist, caching and 304s, redirects, and JSON 404s for unknown assets.
#include "api/dashboard_routes.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "api/dashboard_assets.h"
#include "api/http_server.h"
#include "test_support.h"

namespace cairn::api {
namespace {

using cairn::testing::HttpCall;

class DashboardRoutesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = HttpServer::Start("127.0.0.1:0", DashboardRoutes());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(s).value();
  }
  std::unique_ptr<HttpServer> server_;
};

std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(DashboardAssets, EmbedsEveryFileOfDistByteForByte) {
  const std::filesystem::path dist = std::filesystem::path(CAIRN_SOURCE_DIR) / "dashboard" / "dist";
  std::set<std::string> on_disk;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dist)) {
    if (e.is_regular_file()) on_disk.insert(std::filesystem::relative(e.path(), dist).string());
  }
  std::set<std::string> embedded;
  std::string previous;
  for (const auto& a : DashboardAssets()) {
    embedded.insert(std::string(a.path));
    EXPECT_LT(previous, a.path) << "assets must be sorted for FindDashboardAsset";
    previous = std::string(a.path);
    EXPECT_EQ(a.body, ReadFile(dist / std::string(a.path))) << a.path;
    EXPECT_EQ(a.etag.size(), 34u) << a.path;  // quoted 32 hex digits
    EXPECT_EQ(FindDashboardAsset(a.path), &a);
  }
  EXPECT_EQ(embedded, on_disk);
  ASSERT_NE(FindDashboardAsset("index.html"), nullptr);
  EXPECT_EQ(FindDashboardAsset("index.html")->content_type, "text/html; charset=utf-8");
  EXPECT_EQ(FindDashboardAsset("nope.js"), nullptr);
  EXPECT_EQ(FindDashboardAsset(""), nullptr);
}

TEST_F(DashboardRoutesTest, RootAndBarePathRedirectToTheDashboard) {
  for (const char* target : {"/", "/dashboard"}) {
    auto r = HttpCall("GET", server_->address(), target);
    EXPECT_EQ(r.status, 302) << target;
    EXPECT_EQ(r.Header("location"), "/dashboard/") << target;
  }
}

TEST_F(DashboardRoutesTest, IndexIsRevalidatedAndNamesOnlyEmbeddedAssets) {
  auto r = HttpCall("GET", server_->address(), "/dashboard/");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("content-type"), "text/html; charset=utf-8");
  EXPECT_EQ(r.Header("cache-control"), "no-cache");
  EXPECT_NE(r.Header("content-security-policy").find("default-src 'self'"), std::string::npos);
  EXPECT_EQ(r.body, FindDashboardAsset("index.html")->body);
  // Every script and stylesheet the page loads is served, with a long cache.
  const std::regex ref(R"re((?:src|href)="(/dashboard/assets/[^"]+)")re");
  int refs = 0;
  for (auto it = std::sregex_iterator(r.body.begin(), r.body.end(), ref);
       it != std::sregex_iterator(); ++it) {
    const std::string target = (*it)[1];
    auto a = HttpCall("GET", server_->address(), target);
    EXPECT_EQ(a.status, 200) << target;
    EXPECT_EQ(a.Header("cache-control"), "public, max-age=31536000, immutable") << target;
    EXPECT_EQ(a.Header("x-content-type-options"), "nosniff");
    EXPECT_FALSE(a.Header("etag").empty());
    ++refs;
  }
  EXPECT_GE(refs, 2) << "index.html should load a script and a stylesheet:\n" << r.body;
}

TEST_F(DashboardRoutesTest, MatchingEtagAnswers304WithoutBody) {
  const auto& index = *FindDashboardAsset("index.html");
  auto r = HttpCall("GET", server_->address(), "/dashboard/", {},
                    {{"If-None-Match", std::string(index.etag)}});
  EXPECT_EQ(r.status, 304);
  EXPECT_TRUE(r.body.empty());
  EXPECT_EQ(r.Header("etag"), index.etag);
  auto list = HttpCall("GET", server_->address(), "/dashboard/", {},
                       {{"If-None-Match", "\"other\", W/" + std::string(index.etag)}});
  EXPECT_EQ(list.status, 304);
  auto stale =
      HttpCall("GET", server_->address(), "/dashboard/", {}, {{"If-None-Match", "\"0123\""}});
  EXPECT_EQ(stale.status, 200);
  EXPECT_EQ(stale.body, index.body);
}

TEST_F(DashboardRoutesTest, UnknownAssetsAreJson404s) {
  for (const char* target :
       {"/dashboard/assets/missing.js", "/dashboard/assets/..%2Findex.html", "/dashboard/nope"}) {
    auto r = HttpCall("GET", server_->address(), target);
    EXPECT_EQ(r.status, 404) << target;
    EXPECT_NE(r.body.find("\"error\""), std::string::npos) << target << ": " << r.body;
  }
  auto r = HttpCall("GET", server_->address(), "/dashboard/assets/missing.js");
  EXPECT_NE(r.body.find("asset_not_found"), std::string::npos) << r.body;
  EXPECT_EQ(HttpCall("POST", server_->address(), "/dashboard/", "x").status, 405);
}

}  // namespace
}  // namespace cairn::api
