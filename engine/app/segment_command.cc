#include "app/segment_command.h"

#include <nlohmann/json.hpp>

#include "common/http.h"

namespace cairn::app {

int RunSegmentPreview(const SegmentPreviewOptions& options, std::ostream& out, std::ostream& err) {
  connectors::HttpOptions http;
  http.timeout_ms = 10'000;
  connectors::HttpClient client(http);
  connectors::HttpRequest req;
  req.method = "GET";
  std::string api = options.api;
  while (!api.empty() && api.back() == '/') api.pop_back();
  // Segment names are [a-z0-9_-]: nothing to escape; refuse anything else.
  for (char c : options.name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) {
      err << "'" << options.name << "' is not a segment name\n";
      return 1;
    }
  }
  req.url = api + "/v1/segments/" + options.name + "?sample=" + std::to_string(options.sample);
  const auto resp = client.Perform(req);
  if (resp.curl_code != CURLE_OK) {
    err << "cannot reach the engine at " << api << ": " << resp.error << "\n";
    return 2;
  }
  const auto j = nlohmann::json::parse(resp.body, nullptr, false);
  if (resp.status != 200 || !j.is_object()) {
    std::string message = resp.body;
    if (j.is_object() && j.contains("error")) message = j["error"].value("message", resp.body);
    err << "segment " << options.name << ": " << message << " (HTTP " << resp.status << ")\n";
    return 1;
  }
  out << "segment " << j.value("name", options.name) << ": " << j.value("size", int64_t{0})
      << " customers\n";
  if (j.contains("description")) out << "  " << j["description"].get<std::string>() << "\n";
  out << "  if: " << j.value("condition", "") << "\n";
  const auto& sample = j["sample"];
  out << "  sample (" << sample.size() << "):";
  for (const auto& id : sample) out << " " << id.get<std::string>();
  out << "\n";
  return 0;
}

}  // namespace cairn::app
