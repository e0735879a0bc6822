#include "telemetry/internal/python_literal.h"

#include <cctype>

namespace edgeway::internal {
namespace {

bool IsIdentChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_'; }

}  // namespace

LiteralResult PythonLiteralToJson(std::string_view text, std::string* json) {
  json->clear();
  json->reserve(text.size() + 16);
  size_t i = 0;
  const size_t n = text.size();
  while (i < n) {
    char c = text[i];
    if (c == '"' || c == '\'') {
      const char quote = c;
      json->push_back('"');
      ++i;
      bool closed = false;
      while (i < n) {
        char s = text[i];
        if (s == '\\') {
          if (i + 1 >= n) return LiteralResult::kInvalid;
          char e = text[i + 1];
          if (e == '\'') {
            json->push_back('\'');  // \' is not a JSON escape
          } else {
            json->push_back('\\');
            json->push_back(e);
          }
          i += 2;
          continue;
        }
        if (s == quote) {
          closed = true;
          ++i;
          break;
        }
        if (s == '"') {
          json->append("\\\"");  // a double quote inside a single-quoted string
        } else {
          json->push_back(s);
        }
        ++i;
      }
      if (!closed) return LiteralResult::kInvalid;
      json->push_back('"');
      continue;
    }
    if (std::isdigit(static_cast<unsigned char>(c)) != 0 || c == '.') {
      // A number, exponent included ("1e-05"), copied as it is.
      while (i < n &&
             (std::isdigit(static_cast<unsigned char>(text[i])) != 0 || text[i] == '.' ||
              text[i] == 'e' || text[i] == 'E' ||
              ((text[i] == '+' || text[i] == '-') && (text[i - 1] == 'e' || text[i - 1] == 'E')))) {
        json->push_back(text[i]);
        ++i;
      }
      continue;
    }
    if (std::isalpha(static_cast<unsigned char>(c)) != 0 || c == '_') {
      size_t start = i;
      while (i < n && IsIdentChar(text[i])) ++i;
      std::string_view word = text.substr(start, i - start);
      if (word == "True" || word == "true") {
        json->append("true");
      } else if (word == "False" || word == "false") {
        json->append("false");
      } else if (word == "None" || word == "null") {
        json->append("null");
      } else if (word == "nan" || word == "NaN" || word == "inf" || word == "Infinity") {
        return LiteralResult::kNonFinite;
      } else {
        return LiteralResult::kInvalid;
      }
      continue;
    }
    if (c == '(' || c == ')') return LiteralResult::kInvalid;  // tuples are not telemetry
    json->push_back(c);
    ++i;
  }
  return LiteralResult::kOk;
}

}  // namespace edgeway::internal
