// Shared test helpers: temp dirs, free loopback ports, child processes that
// die with the test, and a tiny HTTP client. Real parts only; no mocks.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cairn::testing {

// A fresh directory under $TMPDIR, removed (recursively) on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A loopback port that was free a moment ago ("127.0.0.1:PORT").
std::string FreeLoopbackAddress();

// A child process. It gets SIGKILL when the test process dies (PDEATHSIG) and
// when this object is destroyed while it still runs.
class ChildProcess {
 public:
  // Starts `argv`; stdout+stderr go to `log_path` (appended).
  ChildProcess(std::vector<std::string> argv, const std::string& log_path);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  bool running();
  void Kill(int sig);
  // Waits for exit up to `timeout`; returns the exit status as from
  // waitpid (use WIFEXITED...), or -1 on timeout.
  int Wait(std::chrono::milliseconds timeout);

 private:
  pid_t pid_ = -1;
  int status_ = -1;
  bool reaped_ = false;
};

// Polls `pred` every 10 ms until it holds or `timeout` passes.
bool WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout);

struct HttpResult {
  int status = 0;  // 0 = could not connect
  std::string body;
};
// GET http://ADDRESS/target with a 5 s timeout.
HttpResult HttpGet(const std::string& address, const std::string& target);

struct HttpCallResult {
  int status = 0;  // 0 = no answer (could not connect, timeout)
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // The first value of header `name` (any case), "" when absent.
  std::string Header(std::string_view name) const;
};

// One HTTP/1.1 request to ADDRESS ("127.0.0.1:PORT") with a 5 s timeout.
// Redirects are not followed.
HttpCallResult HttpCall(const std::string& method, const std::string& address,
                        const std::string& target, const std::string& body = {},
                        const std::vector<std::pair<std::string, std::string>>& headers = {});

// "http://HOST:PORT/path?q" -> {"HOST:PORT", "/path?q"}; nullopt for
// anything else (https, no host).
std::optional<std::pair<std::string, std::string>> SplitHttpUrl(std::string_view url);

// The last lines of a file, for failure messages.
std::string Tail(const std::string& path, size_t lines = 40);

}  // namespace cairn::testing
