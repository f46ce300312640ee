// The dashboard's built front-end (dashboard/dist), compiled into the binary
// by cmake/EmbedDashboard.cmake: no files to deploy, no CDN, works offline.
#pragma once

#include <span>
#include <string_view>

namespace cairn::api {

struct DashboardAsset {
  std::string_view path;          // relative to dist/: "index.html", "assets/index-AbC.js"
  std::string_view content_type;  // from the extension, e.g. "text/javascript; charset=utf-8"
  std::string_view etag;          // strong ETag (quoted), from the content's SHA-256
  std::string_view body;          // the file's bytes (static storage)
};

// Every embedded file, sorted by path. Empty only if dist/ was empty at build.
std::span<const DashboardAsset> DashboardAssets();

// The asset at `path` (relative to dist/), or nullptr.
const DashboardAsset* FindDashboardAsset(std::string_view path);

}  // namespace cairn::api
