// The demo's stand-ins for real providers, all on loopback:
//   SmtpSinkProcess  postfix's smtp-sink (unpacked by deploy/bootstrap-deps.sh
//                    into .tools/postfix), dumping every message to a directory
//   ProviderSink     an HTTP server that answers like Twilio (SMS) and FCM
//                    (push), and reports each SMS as delivered to the status
//                    callback URL it was given, as Twilio does
// Demo only: production points the connectors at real providers.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "api/http_server.h"
#include "cairn/status.h"

namespace cairn::app {

// A loopback TCP port that was free a moment ago.
int FreeLoopbackPort();

class SmtpSinkProcess {
 public:
  // `binary`: usr/sbin/smtp-sink of the unpacked package; messages go to `dump_dir`.
  static Result<std::unique_ptr<SmtpSinkProcess>> Start(const std::string& binary,
                                                        const std::string& dump_dir);
  ~SmtpSinkProcess();  // SIGKILL and reap
  const std::string& address() const { return address_; }
  // Messages dumped so far.
  size_t Count() const;

 private:
  SmtpSinkProcess() = default;
  pid_t pid_ = -1;
  std::string address_, dump_dir_;
};

class ProviderSink {
 public:
  static Result<std::unique_ptr<ProviderSink>> Start();
  ~ProviderSink();
  const std::string& address() const;
  uint64_t sms() const { return sms_.load(); }
  uint64_t push() const { return push_.load(); }
  uint64_t callbacks_ok() const { return callbacks_ok_.load(); }
  uint64_t callbacks_failed() const { return callbacks_failed_.load(); }
  // Waits until every status callback queued so far was made (bounded).
  void Drain(int timeout_ms);

 private:
  ProviderSink() = default;
  void CallbackLoop();
  std::unique_ptr<api::HttpServer> server_;
  std::atomic<uint64_t> sms_{0}, push_{0}, callbacks_ok_{0}, callbacks_failed_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<std::string, std::string>> callbacks_;  // (url, form body)
  size_t busy_ = 0;
  bool stop_ = false;
  std::thread worker_;
};

}  // namespace cairn::app
