// Channel connectors: the contract between the dispatcher (engine/dispatch)
// and one delivery protocol (connectors/<type>/).
//
// Envoy's extension pattern: a ConnectorFactory is registered by type name
// ("smtp", "sms_http", ...). At load it reads and validates its typed config
// from a ConfigFields (a bad value fails naming file:line:col and the field)
// and returns a ConnectorMaker; the dispatcher calls the maker once per
// worker thread, so a Connector is never used by two threads at once and may
// keep a connection open between sends.
//
// The task id is the idempotency key everywhere: the `Idempotency-Key`
// header on HTTP, the Message-ID on SMTP, the Kafka message key. A connector
// sends exactly what it is given and classifies the answer; retries,
// backoff, rate limits and the ledger belong to the dispatcher.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/status.h"

namespace cairn {

// One rendered message, ready for its protocol.
struct OutboundMessage {
  std::string task_id;  // the idempotency key
  std::string customer_id;
  std::string journey;
  uint32_t version = 0;
  std::string step;
  std::string channel;  // "email", "sms", "push", "webhook", ...
  int attempt = 1;      // 1 on the first try; retries carry the same task_id
  // The recipients from the profile: one email address, one phone number
  // (E.164), or the customer's device tokens (push). Empty for webhook/kafka.
  std::vector<std::string> to;
  // The rendered template parts, by name:
  //   email: subject, text, html (text or html may be absent)
  //   sms: body        push: title, body        webhook/kafka: body (JSON)
  std::map<std::string, std::string> content;
  // Extra key/value data (push `data`, webhook headers are not taken from here).
  std::map<std::string, std::string> data;
  std::string
      task_json;  // the task as JSON: set for webhook/kafka connectors and sends without a template
  std::string unsubscribe_url;      // one-click unsubscribe (RFC 8058 List-Unsubscribe)
  std::string status_callback_url;  // where the provider reports delivery (sms)
  // A step may name the connector instance; the dispatcher has resolved it.
};

enum class SendOutcome : uint8_t {
  kAccepted,   // the peer took it (SMTP 250 after DATA, HTTP 2xx)
  kRetryable,  // not taken; try again with the same key (SMTP 4xx, HTTP 408/429/5xx,
               // connection refused or reset before the request was sent)
  kUnknown,    // timed out or cut off after the request went out: it may have been
               // taken; retried with the same key, never counted as failed silently
  kPermanent,  // will never be taken (SMTP 5xx, HTTP 4xx other than 408/429, bad address)
};

// "accepted", "retryable", "unknown", "permanent": the ledger's words.
inline const char* SendOutcomeName(SendOutcome o) {
  switch (o) {
    case SendOutcome::kAccepted:
      return "accepted";
    case SendOutcome::kRetryable:
      return "retryable";
    case SendOutcome::kUnknown:
      return "unknown";
    case SendOutcome::kPermanent:
      return "permanent";
  }
  return "?";
}

struct SendResult {
  SendOutcome outcome = SendOutcome::kPermanent;
  int code = 0;             // the peer's answer: SMTP reply code, HTTP status; 0 = none
  std::string provider_id;  // the peer's id for the message (SMS sid, FCM name, ...)
  std::string detail;       // why, in one line: goes to the ledger and Message Failed
  // Permanent because the recipient was refused (SMTP 5xx to RCPT TO, an
  // unregistered device token, an invalid number): a bounce.
  bool recipient_rejected = false;
  int64_t retry_after_ms = -1;  // the peer asked to wait this long (Retry-After); -1 = unsaid

  static SendResult Accepted(int code, std::string provider_id = {}) {
    SendResult r;
    r.outcome = SendOutcome::kAccepted;
    r.code = code;
    r.provider_id = std::move(provider_id);
    return r;
  }
  static SendResult Failed(SendOutcome outcome, int code, std::string detail) {
    SendResult r;
    r.outcome = outcome;
    r.code = code;
    r.detail = std::move(detail);
    return r;
  }
};

// Sends one message at a time. Owned and called by one dispatch worker.
class Connector {
 public:
  virtual ~Connector() = default;
  // Blocks for at most the connector's configured timeout. Never throws.
  virtual SendResult Send(const OutboundMessage& message) = 0;
};

// A connector's config section (one mapping under `connectors:` in the
// engine config), read key by key. Each getter marks its key as known; the
// dispatcher fails on any key nobody read. Errors carry file:line:col and
// the dotted field name (`connectors.mail.port`).
class ConfigFields {
 public:
  virtual ~ConfigFields() = default;
  // Required when `fallback` is nullopt.
  virtual Result<std::string> String(std::string_view key,
                                     std::optional<std::string> fallback = std::nullopt) = 0;
  virtual Result<int64_t> Int(std::string_view key, int64_t fallback, int64_t min, int64_t max) = 0;
  virtual Result<double> Number(std::string_view key, double fallback, double min, double max) = 0;
  virtual Result<bool> Bool(std::string_view key, bool fallback) = 0;
  // "250ms", "30s", "5m", "2h", "1d" (or a bare integer of ms).
  virtual Result<int64_t> DurationMs(std::string_view key, int64_t fallback) = 0;
  // A string mapping (e.g. extra headers); empty when absent.
  virtual Result<std::map<std::string, std::string>> StringMap(std::string_view key) = 0;
  // The content of the file named by `key` (a Kubernetes Secret mounted as a
  // file), trailing whitespace trimmed. Secrets never sit in the config text.
  // Absent and not required: "".
  virtual Result<std::string> Secret(std::string_view key, bool required) = 0;
  // An InvalidArgument naming `key` ("file:line:col: connectors.mail.url: <message>").
  virtual Status Invalid(std::string_view key, std::string_view message) const = 0;
  // "connectors.<name>": for messages.
  virtual const std::string& path() const = 0;
};

// Makes one connector instance (one per dispatch worker).
using ConnectorMaker = std::function<Result<std::unique_ptr<Connector>>()>;

// What a factory may use besides its own section.
struct ConnectorContext {
  std::string name;     // the instance name, the key under `connectors:`
  std::string brokers;  // the engine's Kafka bootstrap servers (kafka connector)
};

class ConnectorFactory {
 public:
  virtual ~ConnectorFactory() = default;
  virtual std::string_view type() const = 0;
  // Reads and validates the section (only its own keys; the dispatcher has
  // read the common ones: type, concurrency, rate, retry).
  virtual Result<ConnectorMaker> Configure(ConfigFields& fields,
                                           const ConnectorContext& context) const = 0;
};

// Factories by type name. Filled once at start (connectors/builtin.h), then
// read-only.
class ConnectorRegistry {
 public:
  void Register(std::unique_ptr<ConnectorFactory> factory) {
    const std::string type(factory->type());
    factories_[type] = std::move(factory);
  }
  const ConnectorFactory* Find(std::string_view type) const {
    auto it = factories_.find(std::string(type));
    return it == factories_.end() ? nullptr : it->second.get();
  }
  std::vector<std::string> types() const {
    std::vector<std::string> out;
    for (const auto& [t, f] : factories_) out.push_back(t);
    return out;
  }

 private:
  std::map<std::string, std::unique_ptr<ConnectorFactory>> factories_;
};

}  // namespace cairn
