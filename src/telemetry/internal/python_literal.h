#pragma once

#include <string>
#include <string_view>

namespace edgeway::internal {

enum class LiteralResult {
  kOk,         // `json` holds the equivalent JSON text
  kNonFinite,  // the text holds nan or inf
  kInvalid,    // not a Python literal we can translate
};

// Translates the text of a Python literal as printed by str() of dicts, lists, strings, numbers,
// True, False and None into JSON: single-quoted strings become double-quoted ones, True/False/None
// become true/false/null. JSON text passes through unchanged. Does not validate the structure;
// the JSON parser does that.
LiteralResult PythonLiteralToJson(std::string_view text, std::string* json);

}  // namespace edgeway::internal
