#include "telemetry/internal/python_literal.h"

#include "gtest/gtest.h"

namespace edgeway::internal {
namespace {

std::string Translate(std::string_view text, LiteralResult expected = LiteralResult::kOk) {
  std::string json;
  EXPECT_EQ(PythonLiteralToJson(text, &json), expected) << text;
  return json;
}

TEST(PythonLiteralTest, SingleQuotesAndConstants) {
  EXPECT_EQ(Translate("{'a': True, 'b': False, 'c': None, 'd': -1.5e-05}"),
            R"({"a": true, "b": false, "c": null, "d": -1.5e-05})");
}

TEST(PythonLiteralTest, QuotesInsideStrings) {
  EXPECT_EQ(Translate(R"({'s': 'say "hi"', 't': "it's", 'u': 'it\'s'})"),
            R"({"s": "say \"hi\"", "t": "it's", "u": "it's"})");
}

TEST(PythonLiteralTest, JsonPassesThrough) {
  std::string json = R"({"a": [1, 2.5, true, null], "b": "x\ny"})";
  EXPECT_EQ(Translate(json), json);
}

TEST(PythonLiteralTest, NonFiniteAndUnknownWords) {
  Translate("{'a': nan}", LiteralResult::kNonFinite);
  Translate("{'a': -inf}", LiteralResult::kNonFinite);
  Translate("{'a': Infinity}", LiteralResult::kNonFinite);
  Translate("{'a': os.system}", LiteralResult::kInvalid);
  Translate("{'a': (1, 2)}", LiteralResult::kInvalid);
  Translate("{'a': 'unterminated}", LiteralResult::kInvalid);
}

}  // namespace
}  // namespace edgeway::internal
