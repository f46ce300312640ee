// The admin/public HTTP surface on loopback: bearer tokens and scopes, token
// file hot reload, protected mode, the audit log, TLS on both listeners,
// JSON errors for throwing handlers.

// GCC 12 reports -Wnull-dereference inside Asio once inlined (a false
// positive at the Boost line); silenced before any header.
#pragma GCC diagnostic ignored "-Wnull-dereference"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "api/admin_tokens.h"
#include "api/audit_log.h"
#include "api/http_server.h"
#include "api/listeners.h"
#include "api_test_util.h"
#include "test_support.h"

namespace cairn::api {
namespace {

using nlohmann::json;
using testing::Fetch;
using testing::FetchOptions;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kSecret[] = "the-customer-list";

// A scoped GET and POST holding "data", an open probe, a public route and a
// handler that throws.
std::vector<Route> SampleRoutes() {
  auto data = [](const HttpRequest& req) {
    return HttpResponse::Json(200, json{{"data", kSecret}, {"caller", req.caller}}.dump());
  };
  return {
      {"GET", {"v1", "things"}, data},
      {"POST", {"v1", "things"}, data},
      {"DELETE", {"v1", "things", "*"}, data},
      {"GET",
       {"healthz"},
       [](const HttpRequest&) { return HttpResponse::Json(200, "{}"); },
       Exposure::kAdmin,
       Access::kOpen},
      {"GET",
       {"t", "o", "*"},
       [](const HttpRequest&) { return HttpResponse::Json(200, "{}"); },
       Exposure::kPublic},
      {"GET",
       {"v1", "boom"},
       [](const HttpRequest&) -> HttpResponse { throw std::runtime_error("secret stack"); }},
      {"GET", {"v1", "boom2"}, [](const HttpRequest&) -> HttpResponse { throw 42; }},
  };
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<json> AuditLines(const std::string& path) {
  std::vector<json> out;
  std::istringstream in(ReadFile(path));
  for (std::string line; std::getline(in, line);) out.push_back(json::parse(line));
  return out;
}

class AdminHttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    read_token_ = NewToken();
    admin_token_ = NewToken();
    WriteTokens({TokenLine(Scope::kRead, "grafana", read_token_),
                 TokenLine(Scope::kAdmin, "ops-alice", admin_token_)});
    auto tokens = TokenStore::Open(tokens_path_, std::chrono::milliseconds(0));
    ASSERT_TRUE(tokens.ok()) << tokens.status().ToString();
    tokens_ = std::move(tokens).value();
    auto audit = AuditLog::Open(audit_path_);
    ASSERT_TRUE(audit.ok()) << audit.status().ToString();
    ServerOptions o;
    o.listen = "127.0.0.1:0";
    o.name = "admin";
    o.tokens = tokens_;
    o.audit = std::move(audit).value();
    auto server = HttpServer::Start(std::move(o), SampleRoutes());
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
    base_ = server_->url();
  }

  void WriteTokens(const std::vector<std::string>& lines) {
    std::string text = "# scope name hash\n";
    for (const auto& l : lines) text += l + "\n";
    // Write-then-rename, the way operators (and Kubernetes) replace files.
    std::ofstream(tokens_path_ + ".tmp") << text;
    ASSERT_EQ(std::rename((tokens_path_ + ".tmp").c_str(), tokens_path_.c_str()), 0);
  }

  testing::Fetched Call(const std::string& method, const std::string& target,
                        const std::string& bearer = "", const std::string& body = "") {
    FetchOptions o;
    o.method = method;
    o.bearer = bearer;
    o.body = body;
    return Fetch(base_ + target, o);
  }

  testing::TempDir dir_;
  const std::string tokens_path_ = dir_.Sub("tokens");
  const std::string audit_path_ = dir_.Sub("audit.log");
  std::string read_token_, admin_token_;
  std::shared_ptr<TokenStore> tokens_;
  std::unique_ptr<HttpServer> server_;
  std::string base_;
};

TEST_F(AdminHttpTest, NoTokenIs401WithBearerChallengeAndNoData) {
  for (const auto& [method, target] : std::vector<std::pair<std::string, std::string>>{
           {"GET", "/v1/things"}, {"POST", "/v1/things"}, {"GET", "/v1/unknown"}}) {
    auto r = Call(method, target);
    EXPECT_EQ(r.status, 401) << method << " " << target;
    EXPECT_EQ(r.Header("www-authenticate"), "Bearer realm=\"cairn\"");
    EXPECT_THAT(r.body, Not(HasSubstr(kSecret)));
    EXPECT_EQ(json::parse(r.body)["error"]["code"], "unauthorized");
  }
  FetchOptions basic;
  basic.headers = {"Authorization: Basic " + admin_token_};
  EXPECT_EQ(Fetch(base_ + "/v1/things", basic).status, 401);
}

TEST_F(AdminHttpTest, UnknownTokenIs401InvalidToken) {
  auto r = Call("GET", "/v1/things", "cairn_not-a-token");
  EXPECT_EQ(r.status, 401);
  EXPECT_THAT(r.Header("www-authenticate"), HasSubstr("error=\"invalid_token\""));
  EXPECT_THAT(r.body, Not(HasSubstr(kSecret)));
  // A prefix or a longer string of a real token is not the token.
  EXPECT_EQ(Call("GET", "/v1/things", admin_token_.substr(0, 20)).status, 401);
  EXPECT_EQ(Call("GET", "/v1/things", admin_token_ + "x").status, 401);
}

TEST_F(AdminHttpTest, ReadScopeReadsButCannotMutate) {
  auto r = Call("GET", "/v1/things", read_token_);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body)["caller"], "grafana");
  for (const auto& [method, target] : std::vector<std::pair<std::string, std::string>>{
           {"POST", "/v1/things"}, {"DELETE", "/v1/things/u1"}}) {
    auto w = Call(method, target, read_token_, "{}");
    EXPECT_EQ(w.status, 403) << method;
    EXPECT_THAT(w.body, Not(HasSubstr(kSecret)));
    EXPECT_EQ(json::parse(w.body)["error"]["code"], "forbidden");
    EXPECT_THAT(w.Header("www-authenticate"), HasSubstr("insufficient_scope"));
  }
}

TEST_F(AdminHttpTest, AdminScopeDoesEverything) {
  EXPECT_EQ(Call("GET", "/v1/things", admin_token_).status, 200);
  auto r = Call("POST", "/v1/things", admin_token_, "{}");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body)["caller"], "ops-alice");
  EXPECT_EQ(Call("DELETE", "/v1/things/u1", admin_token_).status, 200);
  EXPECT_EQ(Call("GET", "/v1/unknown", admin_token_).status, 404);
  EXPECT_EQ(Call("PUT", "/v1/things", admin_token_).status, 405);
}

TEST_F(AdminHttpTest, ProbesAndPublicRoutesNeedNoToken) {
  EXPECT_EQ(Call("GET", "/healthz").status, 200);
  EXPECT_EQ(Call("GET", "/t/o/abc").status, 200);
}

TEST_F(AdminHttpTest, ThrowingHandlersAnswerJson500WithoutDetails) {
  for (const char* target : {"/v1/boom", "/v1/boom2"}) {
    auto r = Call("GET", target, read_token_);
    EXPECT_EQ(r.status, 500);
    EXPECT_EQ(json::parse(r.body)["error"]["code"], "internal");
    EXPECT_THAT(r.body, Not(HasSubstr("secret stack")));
  }
}

TEST_F(AdminHttpTest, TokenFileIsHotReloadedAndABrokenFileKeepsTheLastGoodOne) {
  const std::string fresh = NewToken();
  WriteTokens({TokenLine(Scope::kAdmin, "bob", fresh)});
  EXPECT_EQ(Call("GET", "/v1/things", fresh).status, 200);
  EXPECT_EQ(Call("GET", "/v1/things", admin_token_).status, 401) << "revoked by the reload";
  // A broken file: the last good tokens stay in force.
  std::ofstream(tokens_path_) << "admin bob sha256:nothex\n";
  EXPECT_EQ(Call("GET", "/v1/things", fresh).status, 200);
  EXPECT_FALSE(tokens_->ReloadIfChanged().ok() && tokens_->size() == 0);
  EXPECT_EQ(tokens_->size(), 1u);
  // Removed: still the last good tokens.
  std::remove(tokens_path_.c_str());
  EXPECT_EQ(Call("GET", "/v1/things", fresh).status, 200);
  // Fixed again.
  WriteTokens({TokenLine(Scope::kRead, "carol", admin_token_)});
  auto r = Call("POST", "/v1/things", admin_token_);
  EXPECT_EQ(r.status, 403) << "the token is back, with scope read only";
  EXPECT_EQ(Call("GET", "/v1/things", fresh).status, 401);
}

TEST_F(AdminHttpTest, AuditLogHasOneLinePerMutatingCallAndNeverTheBody) {
  EXPECT_EQ(Call("GET", "/v1/things", admin_token_).status, 200);
  EXPECT_EQ(Call("POST", "/v1/things?q=1", admin_token_, R"({"password":"hunter2"})").status, 200);
  EXPECT_EQ(Call("POST", "/v1/things", read_token_).status, 403);
  EXPECT_EQ(Call("DELETE", "/v1/things/u9").status, 401);
  const auto lines = AuditLines(audit_path_);
  ASSERT_EQ(lines.size(), 3u) << ReadFile(audit_path_);
  EXPECT_EQ(lines[0]["token"], "ops-alice");
  EXPECT_EQ(lines[0]["method"], "POST");
  EXPECT_EQ(lines[0]["path"], "/v1/things");
  EXPECT_EQ(lines[0]["status"], 200);
  EXPECT_EQ(lines[0]["remote"], "127.0.0.1");
  EXPECT_THAT(lines[0]["time"].get<std::string>(), ::testing::MatchesRegex("20..-..-..T.*Z"));
  EXPECT_EQ(lines[1]["token"], "grafana");
  EXPECT_EQ(lines[1]["status"], 403);
  EXPECT_EQ(lines[2]["token"], "");
  EXPECT_EQ(lines[2]["method"], "DELETE");
  EXPECT_EQ(lines[2]["path"], "/v1/things/u9");
  EXPECT_EQ(lines[2]["status"], 401);
  const std::string all = ReadFile(audit_path_);
  EXPECT_THAT(all, Not(HasSubstr("hunter2")));
  EXPECT_THAT(all, Not(HasSubstr(admin_token_)));
  struct stat st {};
  ASSERT_EQ(::stat(audit_path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
}

TEST(TokenFileTest, ParsesAndNamesTheLineAndColumnOfEveryProblem) {
  const std::string token = "cairn_abc";
  auto ok = ParseTokenFile("# comment\n\n  " + TokenLine(Scope::kRead, "a", token) +
                               "  # trailing\n" + TokenLine(Scope::kAdmin, "b@x", "other"),
                           "t");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  ASSERT_EQ(ok->size(), 2u);
  EXPECT_EQ((*ok)[0].name, "a");
  EXPECT_EQ((*ok)[0].scope, Scope::kRead);
  EXPECT_EQ((*ok)[1].scope, Scope::kAdmin);
  const std::string h = " sha256:" + Sha256Hex("x");
  struct Case {
    std::string text, where;
  };
  for (const auto& c : std::vector<Case>{
           {"root a" + h, "t:1:1: unknown scope 'root'"},
           {"\nread a", "t:2:1: expected '<scope> <name> sha256:"},
           {"read a plain-token", "t:1:8: expected sha256:"},
           {"read a" + h + "\nadmin a" + h, "t:2:7: token name 'a' appears twice"},
           {"read a/b" + h, "t:1:6: token name 'a/b'"},
           {"read a sha256:" + std::string(63, 'a') + "g", "t:1:78: not a hex digit"},
       }) {
    auto r = ParseTokenFile(c.text, "t");
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_THAT(r.status().message(), HasSubstr(c.where)) << c.text;
  }
  EXPECT_FALSE(TokenStore::Open("/nonexistent/tokens").ok());
}

TEST(TokenFileTest, NewTokensAreRandomAndUrlSafe) {
  const std::string a = NewToken(), b = NewToken();
  EXPECT_NE(a, b);
  EXPECT_EQ(a.size(), 6u + 43u);
  EXPECT_THAT(a, ::testing::MatchesRegex("cairn_[A-Za-z0-9_-]+"));
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(ProtectedModeTest, RefusesANonLoopbackAdminAddressWithoutTokens) {
  auto s = HttpServer::Start("0.0.0.0:0", SampleRoutes());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.status().message(), HasSubstr("protected mode"));
  // Only public and open routes: nothing to protect, any address is fine.
  std::vector<Route> open;
  for (auto& r : SampleRoutes()) {
    if (r.exposure == Exposure::kPublic || r.access == Access::kOpen) open.push_back(r);
  }
  EXPECT_TRUE(HttpServer::Start("0.0.0.0:0", open).ok());
  // Through StartListeners, as `cairn run` does.
  testing::TempDir dir;
  HttpConfig config;
  config.public_listen = "127.0.0.1:18080";
  config.admin_listen = "127.0.0.1:18080";
  auto same = StartListeners(config, SampleRoutes(), dir.path());
  ASSERT_FALSE(same.ok());
  EXPECT_THAT(same.status().message(), HasSubstr("different addresses"));
  config.public_listen = "127.0.0.1:0";
  config.admin_listen = "0.0.0.0:0";
  auto l = StartListeners(config, SampleRoutes(), dir.path());
  ASSERT_FALSE(l.ok());
  EXPECT_THAT(l.status().message(), HasSubstr("--admin-tokens"));
}

TEST(ProtectedModeTest, WithoutTokensLoopbackClientsAreServedAndAudited) {
  testing::TempDir dir;
  HttpConfig config;
  config.public_listen = "127.0.0.1:0";
  config.admin_listen = "127.0.0.2:0";  // any 127/8 address is loopback
  auto l = StartListeners(config, SampleRoutes(), dir.path());
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  const std::string admin = l->admin_server->url(), pub = l->public_server->url();
  EXPECT_EQ(Fetch(admin + "/v1/things").status, 200);
  FetchOptions post;
  post.method = "POST";
  auto r = Fetch(admin + "/v1/things", post);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body)["caller"], "loopback");
  // The public listener serves only public routes, and plain 404s.
  EXPECT_EQ(Fetch(pub + "/t/o/x").status, 200);
  EXPECT_EQ(Fetch(pub + "/v1/things").status, 404);
  EXPECT_EQ(Fetch(admin + "/t/o/x").status, 404);
  const auto lines = AuditLines(dir.Sub("audit.log"));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["token"], "loopback");
}

TEST(ListenersTest, MetricsPublicOpensGetMetricsOnly) {
  testing::TempDir dir;
  const std::string token = NewToken();
  std::ofstream(dir.Sub("tokens")) << TokenLine(Scope::kRead, "r", token) << "\n";
  auto routes = SampleRoutes();
  routes.push_back(
      {"GET", {"metrics"}, [](const HttpRequest&) { return HttpResponse::Json(200, "{}"); }});
  HttpConfig config;
  config.public_listen = "127.0.0.1:0";
  config.admin_listen = "127.0.0.1:0";
  config.public_listen = "127.0.0.3:0";
  config.admin_tokens_file = dir.Sub("tokens");
  {
    auto l = StartListeners(config, routes, dir.path());
    ASSERT_TRUE(l.ok()) << l.status().ToString();
    EXPECT_EQ(Fetch(l->admin_server->url() + "/metrics").status, 401);
  }
  config.metrics_public = true;
  auto l = StartListeners(config, routes, dir.path());
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  EXPECT_EQ(Fetch(l->admin_server->url() + "/metrics").status, 200);
  EXPECT_EQ(Fetch(l->admin_server->url() + "/v1/things").status, 401);
}

TEST(TlsTest, BothListenersServeHttpsWithTheirCertificates) {
  testing::TempDir dir;
  ASSERT_TRUE(testing::MakeSelfSignedCert(dir.Sub("pub.crt"), dir.Sub("pub.key")));
  ASSERT_TRUE(testing::MakeSelfSignedCert(dir.Sub("adm.crt"), dir.Sub("adm.key")));
  const std::string token = NewToken();
  std::ofstream(dir.Sub("tokens")) << TokenLine(Scope::kRead, "r", token) << "\n";
  HttpConfig config;
  config.public_listen = "127.0.0.1:0";
  config.admin_listen = "127.0.0.1:0";  // the certificates name 127.0.0.1
  config.public_tls = {dir.Sub("pub.crt"), dir.Sub("pub.key")};
  config.admin_tls = {dir.Sub("adm.crt"), dir.Sub("adm.key")};
  config.admin_tokens_file = dir.Sub("tokens");
  auto l = StartListeners(config, SampleRoutes(), dir.path());
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  const std::string admin = l->admin_server->url(), pub = l->public_server->url();
  EXPECT_THAT(admin, ::testing::StartsWith("https://"));
  FetchOptions o;
  o.cainfo = dir.Sub("adm.crt");
  o.bearer = token;
  auto r = Fetch(admin + "/v1/things", o);
  EXPECT_EQ(r.status, 200) << r.error;
  EXPECT_THAT(r.body, HasSubstr(kSecret));
  // A second connection is served too.
  EXPECT_EQ(Fetch(admin + "/v1/things", o).status, 200);
  // The public listener has its own certificate: the admin one does not verify it.
  o.bearer.clear();
  EXPECT_EQ(Fetch(pub + "/t/o/x", o).status, 0) << "verified against the wrong CA";
  o.cainfo = dir.Sub("pub.crt");
  r = Fetch(pub + "/t/o/x", o);
  EXPECT_EQ(r.status, 200) << r.error;
  // Plain HTTP to a TLS port gets no HTTP answer.
  std::string plain = "http://" + l->public_server->address() + "/t/o/x";
  EXPECT_EQ(Fetch(plain).status, 0);
  // The server is still fine afterwards.
  EXPECT_EQ(Fetch(pub + "/t/o/x", o).status, 200);
}

// cert-manager (or a person) replaces the files: new connections get the
// new certificate, without a restart; a pair that does not load (a key of
// another certificate) is refused and the last good one stays.
TEST(TlsTest, ARenewedCertificateIsServedWithoutARestart) {
  testing::TempDir dir;
  ASSERT_TRUE(testing::MakeSelfSignedCert(dir.Sub("old.crt"), dir.Sub("old.key")));
  ASSERT_TRUE(testing::MakeSelfSignedCert(dir.Sub("new.crt"), dir.Sub("new.key")));
  ASSERT_TRUE(testing::MakeSelfSignedCert(dir.Sub("other.crt"), dir.Sub("other.key")));
  std::filesystem::copy_file(dir.Sub("old.crt"), dir.Sub("tls.crt"));
  std::filesystem::copy_file(dir.Sub("old.key"), dir.Sub("tls.key"));
  ServerOptions o;
  o.listen = "127.0.0.1:0";
  o.tls = {dir.Sub("tls.crt"), dir.Sub("tls.key")};
  o.tls_reload_ms = 50;
  std::vector<Route> routes;
  routes.push_back(Route{"GET",
                         {"ping"},
                         [](const HttpRequest&) { return HttpResponse::Json(200, "{}"); },
                         Exposure::kPublic,
                         Access::kOpen});
  auto s = HttpServer::Start(o, std::move(routes));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  const std::string url = (*s)->url() + "/ping";
  auto with_ca = [&](const std::string& ca) {
    FetchOptions f;
    f.cainfo = dir.Sub(ca);
    return Fetch(url, f).status;
  };
  // Waits up to 5 s for `ca` to verify the server (`want` true) or not.
  auto until = [&](const std::string& ca, bool want) {
    for (int i = 0; i < 100; ++i) {
      if ((with_ca(ca) == 200) == want) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  };
  EXPECT_EQ(with_ca("old.crt"), 200);
  EXPECT_EQ(with_ca("new.crt"), 0);
  // A rotation replaces the files by renaming new ones over them.
  auto replace = [&](const std::string& crt, const std::string& key) {
    std::filesystem::copy_file(dir.Sub(crt), dir.Sub("next.crt"));
    std::filesystem::copy_file(dir.Sub(key), dir.Sub("next.key"));
    std::filesystem::rename(dir.Sub("next.key"), dir.Sub("tls.key"));
    std::filesystem::rename(dir.Sub("next.crt"), dir.Sub("tls.crt"));
  };
  replace("new.crt", "new.key");
  EXPECT_TRUE(until("new.crt", true)) << "the renewed certificate is not served";
  EXPECT_EQ(with_ca("old.crt"), 0);
  // A certificate with another's key: refused, the new pair stays.
  replace("other.crt", "new.key");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(with_ca("new.crt"), 200);
  EXPECT_EQ(with_ca("other.crt"), 0);
  // Once the rotation is complete, it is served.
  replace("other.crt", "other.key");
  EXPECT_TRUE(until("other.crt", true));
}

TEST(TlsTest, MissingOrBrokenKeyFilesFailTheStart) {
  testing::TempDir dir;
  ServerOptions o;
  o.listen = "127.0.0.1:0";
  o.tls = {dir.Sub("missing.crt"), dir.Sub("missing.key")};
  auto s = HttpServer::Start(o, {});
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.status().message(), HasSubstr("missing.crt"));
  ASSERT_TRUE(testing::MakeSelfSignedCert(dir.Sub("a.crt"), dir.Sub("a.key")));
  std::ofstream(dir.Sub("bad.key")) << "not a key\n";
  o.tls = {dir.Sub("a.crt"), dir.Sub("bad.key")};
  s = HttpServer::Start(o, {});
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.status().message(), HasSubstr("bad.key"));
  o.tls = {dir.Sub("a.crt"), ""};
  EXPECT_FALSE(HttpServer::Start(o, {}).ok());
}

}  // namespace
}  // namespace cairn::api
