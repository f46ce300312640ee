#include "app/demo_peers.h"

#include <curl/curl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "api/tracking_routes.h"

namespace cairn::app {
namespace {}  // namespace

int FreeLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  ::close(fd);
  return port;
}

namespace {

bool Accepts(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

Result<std::unique_ptr<SmtpSinkProcess>> SmtpSinkProcess::Start(const std::string& binary,
                                                                const std::string& dump_dir) {
  namespace fs = std::filesystem;
  if (!fs::exists(binary)) {
    return NotFound("smtp-sink not found at " + binary + " (deploy/bootstrap-deps.sh unpacks it)");
  }
  std::error_code ec;
  fs::create_directories(dump_dir, ec);
  fs::permissions(dump_dir, fs::perms::all, ec);  // smtp-sink writes as `nobody` under root
  const std::string libdir =
      (fs::path(binary).parent_path().parent_path() / "lib" / "postfix").string();
  std::unique_ptr<SmtpSinkProcess> p(new SmtpSinkProcess());
  p->dump_dir_ = dump_dir;
  const int port = FreeLoopbackPort();
  p->address_ = "127.0.0.1:" + std::to_string(port);
  const std::string user = ::geteuid() == 0 ? "nobody" : "";
  const std::string dump = dump_dir + "/%M.";
  const pid_t pid = ::fork();
  if (pid < 0) return Internal("fork failed");
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::setenv("LD_LIBRARY_PATH", libdir.c_str(), 1);
    std::vector<const char*> argv = {binary.c_str()};
    if (!user.empty()) {
      argv.push_back("-u");
      argv.push_back(user.c_str());
    }
    argv.push_back("-d");
    argv.push_back(dump.c_str());
    argv.push_back(p->address_.c_str());
    argv.push_back("256");
    argv.push_back(nullptr);
    ::execv(binary.c_str(), const_cast<char* const*>(argv.data()));
    ::_exit(127);
  }
  p->pid_ = pid;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!Accepts(port)) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      p->pid_ = -1;
      return Unavailable("smtp-sink exited at start");
    }
    if (std::chrono::steady_clock::now() > deadline) return Unavailable("smtp-sink did not start");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return p;
}

SmtpSinkProcess::~SmtpSinkProcess() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
}

size_t SmtpSinkProcess::Count() const {
  size_t n = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dump_dir_, ec)) {
    if (e.is_regular_file()) ++n;
  }
  return n;
}

Result<std::unique_ptr<ProviderSink>> ProviderSink::Start() {
  std::unique_ptr<ProviderSink> s(new ProviderSink());
  ProviderSink* raw = s.get();
  std::vector<api::Route> routes;
  // Twilio: POST /2010-04-01/Accounts/{account}/Messages.json
  routes.push_back({"POST",
                    {"2010-04-01", "Accounts", "*", "Messages.json"},
                    [raw](const api::HttpRequest& req) {
                      const uint64_t n = ++raw->sms_;
                      const std::string sid = "SM" + std::to_string(n);
                      std::string callback;
                      for (const auto& [k, v] : api::ParseFormBody(req.body)) {
                        if (k == "StatusCallback") callback = v;
                      }
                      if (!callback.empty()) {
                        std::lock_guard lock(raw->mu_);
                        raw->callbacks_.emplace_back(
                            callback, "MessageSid=" + sid + "&MessageStatus=delivered");
                        raw->cv_.notify_one();
                      }
                      return api::HttpResponse::Json(
                          201, nlohmann::json{{"sid", sid}, {"status", "queued"}}.dump());
                    }});
  // FCM HTTP v1: POST /v1/projects/{project}/messages:send
  routes.push_back(
      {"POST", {"v1", "projects", "*", "messages:send"}, [raw](const api::HttpRequest& req) {
         const uint64_t n = ++raw->push_;
         return api::HttpResponse::Json(
             200, nlohmann::json{{"name",
                                  "projects/" + req.segments[2] + "/messages/" + std::to_string(n)}}
                      .dump());
       }});
  auto server = api::HttpServer::Start("127.0.0.1:0", std::move(routes));
  if (!server.ok()) return server.status();
  s->server_ = std::move(server).value();
  s->worker_ = std::thread([raw] { raw->CallbackLoop(); });
  return s;
}

ProviderSink::~ProviderSink() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    cv_.notify_all();
  }
  if (worker_.joinable()) worker_.join();
}

const std::string& ProviderSink::address() const { return server_->address(); }

void ProviderSink::Drain(int timeout_ms) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
               [&] { return callbacks_.empty() && busy_ == 0; });
}

void ProviderSink::CallbackLoop() {
  CURL* curl = curl_easy_init();
  while (true) {
    std::pair<std::string, std::string> cb;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !callbacks_.empty(); });
      if (stop_) break;
      cb = std::move(callbacks_.front());
      callbacks_.pop_front();
      ++busy_;
    }
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, cb.first.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, cb.second.c_str());
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(
        curl, CURLOPT_WRITEFUNCTION, +[](char*, size_t size, size_t n, void*) { return size * n; });
    long code = 0;
    if (curl_easy_perform(curl) == CURLE_OK) {
      curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    }
    (code == 200 ? callbacks_ok_ : callbacks_failed_)++;
    std::lock_guard lock(mu_);
    --busy_;
    cv_.notify_all();
  }
  curl_easy_cleanup(curl);
}

}  // namespace cairn::app
