// Message outcomes as events: `Message Sent`, `Message Delivered`,
// `Message Failed`, `Message Bounced`, `Message Opened`, `Message Clicked`,
// `Unsubscribed`. Each is an ordinary Segment-style track event keyed by the
// customer on `cairn.events`, so journeys can wait for it; properties carry
// task_id, journey, step, channel (plus reason, code, url, provider_id...).
// The messageId is deterministic (`<task_id>:<what>`), so Cairn's dedup
// window drops a repeat produced after a crash.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "cairn/status.h"
#include "cairn/time.h"

namespace cairn::dispatch {

inline constexpr std::string_view kMessageSent = "Message Sent";
inline constexpr std::string_view kMessageDelivered = "Message Delivered";
inline constexpr std::string_view kMessageFailed = "Message Failed";
inline constexpr std::string_view kMessageBounced = "Message Bounced";
inline constexpr std::string_view kMessageOpened = "Message Opened";
inline constexpr std::string_view kMessageClicked = "Message Clicked";
inline constexpr std::string_view kUnsubscribed = "Unsubscribed";

struct OutcomeRef {
  std::string task_id;
  std::string customer_id;
  std::string journey;
  std::string step;
  std::string channel;
};

// The event as JSON. `extra` (an object) is merged into properties;
// `message_id_suffix` makes the messageId `<task_id>:<suffix>`.
std::string OutcomeEventJson(std::string_view name, const OutcomeRef& ref,
                             const nlohmann::json& extra, TimestampMs at,
                             std::string_view message_id_suffix);

// Where outcome events go (the engine: a Kafka producer onto cairn.events).
// Thread-safe.
class OutcomeSink {
 public:
  virtual ~OutcomeSink() = default;
  // `durable`: return only once the broker acknowledged it (unsubscribes);
  // otherwise enqueue and return.
  virtual Status Emit(const std::string& customer_id, const std::string& event_json,
                      bool durable) = 0;
};

}  // namespace cairn::dispatch
