// `cairn segment preview NAME`: a segment's live size, condition and a
// sample of its members, asked of a running engine's API
// (GET /v1/segments/{name}); docs/profiles.md.
#pragma once

#include <ostream>
#include <string>

namespace cairn::app {

struct SegmentPreviewOptions {
  std::string name;
  std::string api = "http://127.0.0.1:8080";  // the engine's HTTP API
  int sample = 20;
};

// 0: printed; 1: the engine answered with an error (unknown segment...);
// 2: the engine could not be reached.
int RunSegmentPreview(const SegmentPreviewOptions& options, std::ostream& out, std::ostream& err);

}  // namespace cairn::app
