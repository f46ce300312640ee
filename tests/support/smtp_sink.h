// postfix's smtp-sink as a real SMTP peer on loopback, for the connector,
// dispatch and bench tests.
//
// The binary comes from the Debian package unpacked (never installed) by
// deploy/bootstrap-deps.sh into ${CAIRN_TOOLS_DIR:-<repo>/.tools}/postfix.
// Each message the sink answers 250 to is dumped to a file (-d) that
// Messages() parses. extra_args shape the answers (man smtp-sink):
//   -f rcpt     every RCPT TO gets a 5xx     -r data   every DATA gets a 4xx
//   -f . / -r . the end of data gets 5xx/4xx -w N      wait N s before answering DATA
//   -W cmd:N    wait N s before answering cmd
//   -q cmd      hang up without answering cmd   -Q cmd  answer 421 and hang up
//   -B "550 5.1.1 No such user"  the text of hard rejects (-b for soft)
// Not thread-safe; one test thread owns it.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "test_support.h"

namespace cairn::testing {

struct CaseInsensitiveLess {
  bool operator()(std::string_view a, std::string_view b) const;
  using is_transparent = void;
};

class SmtpSink {
 public:
  struct Options {
    std::vector<std::string> extra_args;  // e.g. {"-f", "rcpt"}
    // "127.0.0.1:PORT" to listen on (e.g. to restart a sink where a
    // connector points); empty: a free loopback port.
    std::string address;
    // Dump every message (needed by Messages() and Count()); a throughput
    // bench may turn it off, the disk being the slow part then.
    bool capture = true;
  };

  // One message as the sink took it (after its 250 to the end of data).
  struct Received {
    std::string file;                     // the dump file
    std::string helo;                     // X-Helo-Args
    std::string mail_from;                // X-Mail-Args, e.g. "<a@b.c>"
    std::vector<std::string> recipients;  // X-Rcpt-Args, e.g. {"<x@y.z>"}, in order
    // The message's own header fields, unfolded (CRLF before a continuation
    // line removed), keys compared case-insensitively.
    std::multimap<std::string, std::string, CaseInsensitiveLess> headers;
    std::string body;  // everything after the blank line, LF line ends, dots unstuffed

    // The first value of `name`, "" when absent.
    std::string Header(std::string_view name) const;
    bool Has(std::string_view name) const { return headers.count(name) > 0; }
  };

  // Starts smtp-sink (backlog 256, up to 256 sessions at once) and returns
  // once it listens. Retries on another port if the one picked got taken.
  // Throws std::runtime_error saying why (not bootstrapped, or the log).
  static std::unique_ptr<SmtpSink> Start(const Options& options);
  static std::unique_ptr<SmtpSink> Start() { return Start(Options{}); }

  // Whether the unpacked binary is there.
  static bool Available();
  // Where it is looked for.
  static std::string BinaryPath();
  // The message to fail with when it is not: run deploy/bootstrap-deps.sh.
  static std::string NotAvailableMessage();

  ~SmtpSink();
  SmtpSink(const SmtpSink&) = delete;
  SmtpSink& operator=(const SmtpSink&) = delete;

  const std::string& address() const { return address_; }  // "127.0.0.1:PORT"
  std::string url() const { return "smtp://" + address_; }
  int port() const { return port_; }

  // The complete messages dumped so far, in arrival order. A transaction
  // refused at MAIL, RCPT or DATA, or still in progress, is not listed. The
  // sink writes the dump when the data ends, before it answers ".", so with
  // -f/-r/-q/-W on "." the message IS listed (what a client must count as
  // "may have been taken").
  std::vector<Received> Messages() const;
  size_t Count() const;
  // Waits up to `timeout_ms` until Count() >= n.
  bool WaitForCount(size_t n, int timeout_ms) const;

  // Stops the sink (SIGTERM, then SIGKILL); idempotent. Messages() still
  // reads what was dumped.
  void Stop();
  bool running() const;
  // The sink's stdout/stderr, for failure messages.
  std::string LogTail() const;

 private:
  SmtpSink() = default;

  std::unique_ptr<TempDir> dir_;
  std::string dump_dir_;
  std::string log_path_;
  std::string address_;
  int port_ = 0;
  std::unique_ptr<ChildProcess> process_;
};

}  // namespace cairn::testing
