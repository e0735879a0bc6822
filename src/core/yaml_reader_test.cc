#include "edgeway/core/yaml_reader.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace edgeway {
namespace {

using ::testing::HasSubstr;

TEST(YamlReaderTest, ReadsNestedValuesAndKeepsDefaults) {
  auto reader = YamlReader::LoadString("a:\n  n: 5\n  s: hi\nflag: true\nlist: [x, y]\n", "t.yaml");
  ASSERT_TRUE(reader.ok()) << reader.status();
  int64_t n = 0, absent = 42;
  std::string s;
  bool flag = false;
  std::vector<std::string> list;
  YamlReader a = reader->Map("a");
  a.Read("n", &n, 1, 10);
  a.Read("s", &s);
  a.Read("absent", &absent, 0, 100);
  reader->Read("flag", &flag);
  reader->Read("list", &list);
  ASSERT_TRUE(reader->Finish().ok()) << reader->Finish();
  EXPECT_EQ(n, 5);
  EXPECT_EQ(s, "hi");
  EXPECT_EQ(absent, 42);
  EXPECT_TRUE(flag);
  EXPECT_EQ(list, (std::vector<std::string>{"x", "y"}));
}

TEST(YamlReaderTest, OutOfRangeNamesFileLineAndKey) {
  auto reader = YamlReader::LoadString("analytics:\n  other: 1\n  window: -3\n", "edgeway.yaml");
  ASSERT_TRUE(reader.ok());
  int64_t window = 50, other = 0;
  YamlReader analytics = reader->Map("analytics");
  analytics.Read("other", &other, 0, 10);
  analytics.Read("window", &window, 1, 1000);
  absl::Status status = reader->Finish();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "edgeway.yaml:3: analytics.window must be in [1, 1000], got -3");
  EXPECT_EQ(window, 50);
}

TEST(YamlReaderTest, ASizeReadsInRangeAndANegativeOneIsAnError) {
  auto reader = YamlReader::LoadString("analytics:\n  window: 64\n  warmup: -3\n", "edgeway.yaml");
  ASSERT_TRUE(reader.ok());
  size_t window = 50, warmup = 300;
  YamlReader analytics = reader->Map("analytics");
  analytics.Read("window", &window, 2, 1000);
  analytics.Read("warmup", &warmup, 10, 1000);
  EXPECT_EQ(window, 64u);
  EXPECT_EQ(warmup, 300u);
  EXPECT_EQ(reader->Finish().message(),
            "edgeway.yaml:3: analytics.warmup must be in [10, 1000], got -3");
}

TEST(YamlReaderTest, UnknownKeyIsAnError) {
  auto reader = YamlReader::LoadString("store:\n  path: a.db\n  pth: b.db\n", "c.yaml");
  ASSERT_TRUE(reader.ok());
  std::string path;
  reader->Map("store").Read("path", &path);
  EXPECT_EQ(reader->Finish().message(), "c.yaml:3: unknown key store.pth");
}

TEST(YamlReaderTest, WrongTypeAndBadEnum) {
  auto reader = YamlReader::LoadString("n: abc\nmode: fast\n", "c.yaml");
  ASSERT_TRUE(reader.ok());
  int64_t n = 0;
  reader->Read("n", &n, 0, 10);
  EXPECT_THAT(std::string(reader->Finish().message()), HasSubstr("c.yaml:1: n must be an integer"));

  auto second = YamlReader::LoadString("mode: fast\n", "c.yaml");
  std::string mode;
  second->ReadEnum("mode", &mode, {"block", "drop"});
  EXPECT_EQ(second->Finish().message(), "c.yaml:1: mode must be one of block, drop, got 'fast'");
}

TEST(YamlReaderTest, EnumIntoItsValue) {
  enum class Mode { kBlock, kDrop };
  auto reader = YamlReader::LoadString("mode: drop\n", "c.yaml");
  ASSERT_TRUE(reader.ok());
  Mode mode = Mode::kBlock, absent = Mode::kDrop;
  reader->ReadEnum<Mode>("mode", &mode, {{"block", Mode::kBlock}, {"drop", Mode::kDrop}});
  reader->ReadEnum<Mode>("other", &absent, {{"block", Mode::kBlock}, {"drop", Mode::kDrop}});
  EXPECT_TRUE(reader->Finish().ok());
  EXPECT_EQ(mode, Mode::kDrop);
  EXPECT_EQ(absent, Mode::kDrop);  // absent: the default stays

  auto bad = YamlReader::LoadString("mode: fast\n", "c.yaml");
  bad->ReadEnum<Mode>("mode", &mode, {{"block", Mode::kBlock}, {"drop", Mode::kDrop}});
  EXPECT_EQ(bad->Finish().message(), "c.yaml:1: mode must be one of block, drop, got 'fast'");
  EXPECT_EQ(mode, Mode::kDrop);
}

TEST(YamlReaderTest, SyntaxErrorNamesLine) {
  auto reader = YamlReader::LoadString("a: [1, 2\nb: 3\n", "bad.yaml");
  ASSERT_FALSE(reader.ok());
  EXPECT_THAT(std::string(reader.status().message()), HasSubstr("bad.yaml:"));
}

}  // namespace
}  // namespace edgeway
