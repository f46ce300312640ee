#include "dispatch/outcome.h"

namespace cairn::dispatch {

std::string OutcomeEventJson(std::string_view name, const OutcomeRef& ref,
                             const nlohmann::json& extra, TimestampMs at,
                             std::string_view message_id_suffix) {
  nlohmann::json props = nlohmann::json::object();
  props["task_id"] = ref.task_id;
  props["journey"] = ref.journey;
  props["step"] = ref.step;
  props["channel"] = ref.channel;
  if (extra.is_object()) {
    for (const auto& [k, v] : extra.items()) props[k] = v;
  }
  nlohmann::json e;
  e["type"] = "track";
  e["event"] = name;
  e["userId"] = ref.customer_id;
  e["messageId"] = ref.task_id + ":" + std::string(message_id_suffix);
  e["timestamp"] = FormatTimestamp(at);
  e["properties"] = std::move(props);
  // Cairn's own event: it does not tell that the id is a userId (engine/identity).
  e["context"] = {{"cairn", {{"source", "dispatch"}}}};
  return e.dump();
}

}  // namespace cairn::dispatch
