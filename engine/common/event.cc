#include "cairn/event.h"

namespace cairn {

std::string_view EventTypeName(EventType type) {
  switch (type) {
    case EventType::kTrack:
      return "track";
    case EventType::kIdentify:
      return "identify";
    case EventType::kPage:
      return "page";
    case EventType::kScreen:
      return "screen";
    case EventType::kAlias:
      return "alias";
    case EventType::kGroup:
      return "group";
  }
  return "unknown";
}

void Event::Clear() {
  type = EventType::kTrack;
  user_id.clear();
  anonymous_id.clear();
  name.clear();
  message_id.clear();
  timestamp_ms = 0;
  properties_json.clear();
  traits_json.clear();
  context_json.clear();
  previous_id.clear();
  numeric_properties.clear();
}

}  // namespace cairn
