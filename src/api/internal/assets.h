#pragma once

#include <cstddef>
#include <string_view>

namespace edgeway::api::internal {

// A file of the dashboard, embedded into the binary at build time (cmake/embed_assets.cmake).
struct Asset {
  std::string_view path;  // URL path, e.g. "/assets/uPlot.min.js"
  std::string_view content_type;
  std::string_view body;
};

// Null when there is no asset at `path`.
const Asset* FindAsset(std::string_view path);

}  // namespace edgeway::api::internal
