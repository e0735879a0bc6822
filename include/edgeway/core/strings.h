#pragma once

#include <iterator>
#include <string>

#include "fmt/format.h"

namespace edgeway {

// Concatenates anything fmt can print. (Debian's Abseil is built with its own string_view, so
// absl::StrCat does not take std::string_view.)
template <typename... Args>
std::string StrCat(const Args&... args) {
  std::string out;
  (fmt::format_to(std::back_inserter(out), "{}", args), ...);
  return out;
}

}  // namespace edgeway
