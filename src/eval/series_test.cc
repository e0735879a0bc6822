#include "edgeway/eval/series.h"

#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/temp_dir.h"

namespace edgeway::eval {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(SeriesTest, ReadsNabCsv) {
  testing::TempDir dir;
  std::ofstream(dir.File("a.csv")) << "timestamp,value\n2014-04-01 00:00:00,1.5\n"
                                      "2014-04-01 00:05:00,-2\n";
  auto s = ReadSeriesCsv(dir.File("a.csv"));
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->values.size(), 2u);
  EXPECT_EQ(s->timestamps[1], "2014-04-01 00:05:00");
  EXPECT_EQ(s->ts_ns[1] - s->ts_ns[0], 300LL * 1'000'000'000);
  EXPECT_DOUBLE_EQ(s->values[1], -2);
}

TEST(SeriesTest, ErrorsNameFileAndLine) {
  testing::TempDir dir;
  std::ofstream(dir.File("b.csv"))
      << "timestamp,value\n2014-04-01 00:00:00,1\n2014-04-01 00:05:00,abc\n";
  auto s = ReadSeriesCsv(dir.File("b.csv"));
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("b.csv:3: value 'abc' is not a number"));
  std::ofstream(dir.File("c.csv")) << "timestamp,value\nyesterday,1\n";
  EXPECT_THAT(std::string(ReadSeriesCsv(dir.File("c.csv")).status().message()),
              HasSubstr("c.csv:2: timestamp 'yesterday' is not a time"));
  EXPECT_EQ(ReadSeriesCsv(dir.File("none.csv")).status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(ReadSeriesCsv(dir.path()).status().message()),
              HasSubstr("is a directory, not a CSV file"));
}

TEST(SeriesTest, ParsesTextAndRejectsTimesBeyondNanoseconds) {
  auto s = ParseSeriesCsv("timestamp,value\r\n1764200000.5,3\r\n1764200001,\"4\",x", "t.csv");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->ts_ns, (std::vector<int64_t>{1'764'200'000'500'000'000, 1'764'200'001'000'000'000}));
  EXPECT_EQ(s->values, (std::vector<double>{3, 4}));
  // Seconds past int64 nanoseconds (about 292 years from 1970) are no time, not an overflow.
  EXPECT_THAT(std::string(ParseSeriesCsv("timestamp,value\n1e300,1\n", "t.csv").status().message()),
              HasSubstr("t.csv:2: timestamp '1e300' is not a time"));
  EXPECT_THAT(std::string(ParseSeriesCsv("", "t.csv").status().message()),
              HasSubstr("t.csv: no rows"));
}

TEST(SeriesTest, TheHeaderIsOptionalAndMayNameTheColumnsAnyhow) {
  for (const char* text : {"time,temperature\n1764200000,20.5\n", "1764200000,20.5\n",
                           "when,\"temp (C)\",site\n1764200000,20.5,a\n"}) {
    auto s = ParseSeriesCsv(text, "h.csv");
    ASSERT_TRUE(s.ok()) << text << ": " << s.status();
    EXPECT_EQ(s->values, (std::vector<double>{20.5})) << text;
  }
  // A first line with a time or a number in it is data, and its error is reported.
  EXPECT_THAT(std::string(ParseSeriesCsv("1764200000,abc\n", "h.csv").status().message()),
              HasSubstr("h.csv:1: value 'abc' is not a number"));
  EXPECT_THAT(std::string(ParseSeriesCsv("yesterday,1\n", "h.csv").status().message()),
              HasSubstr("h.csv:1: timestamp 'yesterday' is not a time"));
  EXPECT_THAT(std::string(ParseSeriesCsv("time,value\ntime,value\n", "h.csv").status().message()),
              HasSubstr("h.csv:2: timestamp 'time' is not a time"));
}

// Line by line, as edgeway detect reads a stream: each line a row, nothing, or its own error.
TEST(SeriesTest, EachLineIsARowNothingOrAnError) {
  std::vector<std::string> timestamps, bad;
  std::vector<double> values;
  std::vector<int64_t> ts_ns;
  size_t line_no = 0;
  for (std::string_view line : {"t,v", "1,1", "2,nan", "", "3 3", "noon,4", "5,5.5 ", "6,"}) {
    auto row = ParseSeriesLine(line, ++line_no, "b.csv");
    if (!row.ok()) {
      bad.emplace_back(row.status().message());
    } else if (row->has_value()) {
      timestamps.emplace_back((*row)->timestamp);
      values.push_back((*row)->value);
      ts_ns.push_back((*row)->ts_ns);
    }
  }
  EXPECT_THAT(timestamps, ElementsAre("1", "5"));
  EXPECT_THAT(values, ElementsAre(1, 5.5));
  EXPECT_THAT(ts_ns, ElementsAre(1'000'000'000, 5'000'000'000));
  EXPECT_THAT(bad, ElementsAre("b.csv:3: value 'nan' is not a number",
                               "b.csv:5: expected 'timestamp,value', got '3 3'",
                               "b.csv:6: timestamp 'noon' is not a time",
                               "b.csv:8: value '' is not a number"));
  // Only the first line may be a header.
  EXPECT_FALSE(ParseSeriesLine("t,v", 2, "b.csv").ok());
}

TEST(SeriesTest, LabelsBecomeRowRanges) {
  testing::TempDir dir;
  std::filesystem::create_directories(dir.File("data/x"));
  std::ofstream csv(dir.File("data/x/s.csv"));
  csv << "timestamp,value\n";
  for (int m = 0; m < 10; ++m) csv << "2014-04-01 00:0" << m << ":00," << m << "\n";
  csv.close();
  std::ofstream(dir.File("labels.json"))
      << R"({"x/s.csv": [["2014-04-01 00:02:00.000000", "2014-04-01 00:04:00.000000"]]})";
  auto corpus = LoadNabCorpus(dir.path());
  ASSERT_TRUE(corpus.ok()) << corpus.status();
  ASSERT_EQ(corpus->size(), 1u);
  EXPECT_EQ((*corpus)[0].windows, (std::vector<std::pair<size_t, size_t>>{{2, 4}}));
}

}  // namespace
}  // namespace edgeway::eval
