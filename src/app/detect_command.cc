#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "app/commands.h"
#include "edgeway/core/clock.h"
#include "edgeway/core/strings.h"
#include "edgeway/eval/nab.h"
#include "edgeway/eval/series.h"
#include "edgeway/stream/analytics.h"
#include "fmt/format.h"
#include "nlohmann/json.hpp"

namespace edgeway::app {
namespace {

// One series replayed reading by reading through the gateway's analytics for one key, as `edgeway
// run` would judge a device named after the file. `threshold` is the gateway's
// analytics.anomaly_threshold, at which the ensemble reports each event once; 0 gives its scores
// as a threshold sweep needs them (its anomaly insights, one per nonzero score then, are not used
// here).
class SeriesScorer {
 public:
  SeriesScorer(const std::string& name, size_t window, const std::string& detector,
               double threshold, size_t warmup)
      : ensemble_(detector == "ensemble"),
        analytics_(
            {.detector = ensemble_ ? stream::DetectorKind::kEnsemble : stream::DetectorKind::kSigma,
             .anomaly_threshold = threshold,
             .ensemble_warmup = warmup,
             .window = window}) {
    reading_.device_id = std::filesystem::path(name).stem().string();
    reading_.sensor = "value";
  }

  // The anomaly score of `value`, from the values before it and itself; `stuck` (when not null)
  // becomes the summary of the stuck insight it raised, or empty.
  double Score(double value, std::string* stuck) {
    reading_.value = value;
    insights_.clear();
    const stream::Verdict verdict = analytics_.Process(reading_, &insights_);
    period_ = verdict.period;
    fault_code_ = verdict.fault_code;
    if (stuck != nullptr) {
      stuck->clear();
      for (const Insight& in : insights_) {
        if (in.kind == Insight::Kind::kStuck) *stuck = in.summary;
      }
    }
    return ensemble_ ? verdict.score : stream::AnomalyScore(verdict);
  }

  // The ensemble's cycle of the series in readings, once found (0 until then, or for sigma).
  size_t period() const { return period_; }
  // Whether the ensemble took the last value scored for a fault code read again.
  bool fault_code() const { return fault_code_; }

 private:
  bool ensemble_;
  size_t period_ = 0;
  bool fault_code_ = false;
  stream::KeyedAnalytics analytics_;
  Reading reading_;
  std::vector<Insight> insights_;
};

void AddDetectorOptions(CLI::App* cmd, size_t& window, std::string& detector, double& threshold,
                        const char* threshold_help) {
  cmd->add_option("--detector", detector,
                  "ensemble (robust z, EWMA, CUSUM, Holt-Winters seasonality, a pattern memory, "
                  "anomaly likelihood, range novelty) or sigma (the seed's 3-sigma rule over a "
                  "sliding window)")
      ->capture_default_str()
      ->check(CLI::IsMember({"ensemble", "sigma"}));
  cmd->add_option("--window", window, "readings in the sliding window of the sigma detector")
      ->capture_default_str()
      ->check(CLI::Range(2, 1000000));
  cmd->add_option("--threshold", threshold, threshold_help)
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
}

}  // namespace

void AddDetectCommand(CLI::App& app, DetectFlags& flags) {
  CLI::App* cmd = app.add_subcommand(
      "detect",
      "Run one series through the gateway's streaming detector, outside the gateway. Reads "
      "timestamp,value rows and writes timestamp,value,anomaly_score, the score in [0,1] "
      "computed only from the rows up to and including its own (no look-ahead), each row as it "
      "is read: any length in constant memory, and a live stream piped through (`tail -f "
      "log.csv | edgeway detect --input - --output -`). The ensemble's cycle of the series, once "
      "found (the period of a daily or weekly rhythm, judged from then on against its "
      "Holt-Winters forecast), a sensor stuck at one value (the gateway's stuck insight), and a "
      "fault code read again (a value exactly as before, far beyond the series' range) are "
      "reported on standard error, with their timestamp, row and line. Rows that are not a time "
      "and a finite number are left out (as the gateway rejects bad readings and goes on) and "
      "reported with their line, unless --strict; so are values outside --min and --max. Rows "
      "are scored in the order of the file; rows earlier than the row before them are counted "
      "and reported at the end.");
  cmd->add_option(
         "--input", flags.input,
         "CSV of timestamp,value rows, after a header line or not ('-' for standard input)")
      ->required();
  cmd->add_option("--output", flags.output, "CSV to write ('-' for standard output)")->required();
  AddDetectorOptions(cmd, flags.window, flags.detector, flags.threshold,
                     "the gateway's analytics.anomaly_threshold: the ensemble's scores as the "
                     "gateway judges them, each event at its first score this high and the rest 0 "
                     "(0: every event's scores as they double, for a threshold sweep)");
  cmd->add_option("--warmup", flags.warmup,
                  "readings the ensemble learns from before its first score (the gateway's "
                  "default; edgeway nab uses each file's probationary period)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  cmd->add_option(
      "--min", flags.plausible.min,
      "the lowest plausible value (the gateway's ingest.plausible): a row below it is a "
      "bad row, such as a sensor's fault code (-127 for a disconnected DS18B20), that "
      "would otherwise teach the detector a range the sensor never reads");
  cmd->add_option("--max", flags.plausible.max,
                  "the highest plausible value: a row above it is a bad row (4095 for a saturated "
                  "12-bit ADC)");
  cmd->add_flag("--strict", flags.strict, "stop at the first bad row (exit code 2)");
}

int DetectCommand(const DetectFlags& flags) {
  const gateway::GatewayConfig::PlausibleRange& plausible = flags.plausible;
  if (!(plausible.min < plausible.max)) {
    fmt::print(stderr, "edgeway detect: --max ({}) must be above --min ({})\n", plausible.max,
               plausible.min);
    return kExitUsage;
  }
  // The input is read and each row scored and written as it comes, in constant memory: a file of
  // any length, or a live stream (`tail -f log.csv | edgeway detect --input - --output -`).
  std::ios::sync_with_stdio(false);  // std::cin buffers, and says when it has nothing buffered
  const std::string name = flags.input == "-" ? "stdin" : flags.input;
  std::ifstream file;
  std::istream* in = &std::cin;
  if (flags.input != "-") {
    auto opened = eval::OpenSeriesFile(flags.input);
    if (!opened.ok()) {
      fmt::print(stderr, "edgeway detect: {}\n", opened.status().message());
      return kExitUsage;
    }
    file = std::move(*opened);
    in = &file;
  }
  const bool to_stdout = flags.output == "-";
  std::FILE* out = to_stdout ? stdout : std::fopen(flags.output.c_str(), "w");
  if (out == nullptr) {
    fmt::print(stderr, "edgeway detect: {}: cannot write: {}\n", flags.output,
               std::strerror(errno));
    return kExitFailure;
  }
  // On failure no half-written file is left behind: a regular file is removed (not a device, a
  // FIFO or standard output, such as /dev/null or a pipe's end).
  auto remove_output = [&] {
    std::error_code ec;
    if (!to_stdout && std::filesystem::is_regular_file(flags.output, ec)) {
      std::filesystem::remove(flags.output, ec);
    }
  };
  auto fail = [&](int code) {
    if (!to_stdout) std::fclose(out);
    remove_output();
    return code;
  };
  SeriesScorer scorer(name, flags.window, flags.detector, flags.threshold, flags.warmup);
  std::fputs("timestamp,value,anomaly_score\n", out);
  constexpr size_t kShown = 10;
  size_t line_no = 0, rows = 0, bad = 0;
  size_t earlier = 0, earlier_line = 0;  // rows earlier than the row before, and the first's line
  int64_t first_ns = 0, last_ns = 0;
  bool cycle_told = false;
  std::string line, stuck;
  while (std::getline(*in, line)) {
    auto row = eval::ParseSeriesLine(line, ++line_no, name);
    if (row.ok() && row->has_value() && !plausible.Holds((*row)->value)) {
      row = absl::InvalidArgumentError(
          fmt::format("{}:{}: value {} is outside the plausible range {} to {}", name, line_no,
                      (*row)->value, plausible.min, plausible.max));
    }
    if (!row.ok()) {
      if (flags.strict) {
        fmt::print(stderr, "edgeway detect: {}\n", row.status().message());
        return fail(kExitUsage);
      }
      // Left out, as the gateway rejects a bad reading and goes on.
      if (++bad <= kShown)
        fmt::print(stderr, "edgeway detect: {} (left out)\n", row.status().message());
      continue;
    }
    if (!row->has_value()) continue;
    const eval::SeriesRow& r = **row;
    ++rows;
    if (rows > 1 && r.ts_ns < last_ns && ++earlier == 1) earlier_line = line_no;
    last_ns = r.ts_ns;
    fmt::print(out, "{},{},{:.6f}\n", r.timestamp, r.value, scorer.Score(r.value, &stuck));
    // A stuck run is no anomaly score (a value read over and over is no surprise): the gateway
    // makes it an insight of its own, reported here with its timestamp, its row in the output (the
    // first is 1) and its line in the input.
    if (!stuck.empty()) {
      fmt::print(stderr, "edgeway detect: {}: {} (row {}, line {}): {}\n", name, r.timestamp, rows,
                 line_no, stuck);
    }
    // So is a value read again exactly, far beyond the series' range: a sensor's fault code.
    if (scorer.fault_code()) {
      fmt::print(stderr,
                 "edgeway detect: {}: {} (row {}, line {}): {} again, exactly as read before and "
                 "far beyond the range of the series: a fault code? (--min and --max leave such "
                 "rows out)\n",
                 name, r.timestamp, rows, line_no, r.value);
    }
    // The seed's detect_seasonality: what cycle the series has, as soon as it is known.
    if (rows == 1) first_ns = r.ts_ns;
    if (!cycle_told && scorer.period() > 0) {
      cycle_told = true;
      const size_t period = scorer.period();
      const double spacing_s =
          static_cast<double>(r.ts_ns - first_ns) / kNsPerSecond / static_cast<double>(rows - 1);
      fmt::print(
          stderr,
          "edgeway detect: {}: {} (row {}, line {}): a cycle of {} readings (about {} at "
          "their mean spacing) found; from row {} the readings are judged against its "
          "Holt-Winters forecast\n",
          name, r.timestamp, rows, line_no, period,
          absl::FormatDuration(absl::Seconds(std::round(spacing_s * static_cast<double>(period)))),
          rows + period + 1);
    }
    // Before waiting for more input, what is scored goes out.
    if (in->rdbuf()->in_avail() <= 0) std::fflush(out);
  }
  if (in->bad()) {
    fmt::print(stderr, "edgeway detect: {}: read failed\n", name);
    return fail(kExitFailure);
  }
  if (bad > 0) {
    fmt::print(stderr, "edgeway detect: {}: {} left out{}, {} scored\n", name,
               bad == 1 ? "1 bad row" : fmt::format("{} bad rows", bad),
               bad > kShown ? fmt::format(" (the first {} above)", kShown) : "", rows);
  }
  if (earlier > 0) {
    fmt::print(stderr,
               "edgeway detect: {}: {} earlier than the row before {} ({}line {}), "
               "scored in the order of the file\n",
               name, earlier == 1 ? "1 row" : fmt::format("{} rows", earlier),
               earlier == 1 ? "it" : "them", earlier == 1 ? "" : "the first at ", earlier_line);
  }
  if (rows == 0) {
    fmt::print(stderr, "edgeway detect: {}: no rows\n", name);
    return fail(kExitUsage);
  }
  bool ok = std::ferror(out) == 0;
  if (!to_stdout) ok = std::fclose(out) == 0 && ok;
  if (!ok) {
    fmt::print(stderr, "edgeway detect: {}: write failed\n", flags.output);
    remove_output();
    return kExitFailure;
  }
  return kExitOk;
}

void AddNabCommand(CLI::App& app, NabFlags& flags) {
  CLI::App* cmd = app.add_subcommand(
      "nab",
      "Score the streaming detector on a Numenta Anomaly Benchmark corpus with edgeway's own "
      "NAB scorer: prints the normalised standard, reward_low_FP_rate and reward_low_FN_rate "
      "scores, a table per file, and one per category (alone, and the rest without it). As NAB "
      "does for every detector, the ensemble is told each file's probationary period (15% of "
      "its rows, at most 750) and learns over it before its first score.");
  cmd->add_option("--data", flags.data, "NAB directory with labels.json and data/")
      ->capture_default_str();
  AddDetectorOptions(cmd, flags.window, flags.detector, flags.threshold,
                     "score at this one threshold, not at each profile's best (which knowing "
                     "the labels chose); the ensemble then reports as a gateway with this "
                     "analytics.anomaly_threshold does, each event at its first score this high");
  cmd->add_option("--json", flags.json, "also write the scores as JSON here");
  cmd->add_option("--resamples", flags.resamples,
                  "corpora of the same size to draw from the files with replacement and score, "
                  "each at its own best threshold (or --threshold), for the range nine in ten of "
                  "them fall in: how much the score owes to which files are in the corpus (0: "
                  "none)")
      ->capture_default_str()
      ->check(CLI::Range(0, 100000));
}

namespace {

// Each category of the corpus (the directory of its files) scored alone at the corpus' threshold,
// and the corpus without it at its own best threshold of those swept (the same one when `fixed`,
// the only one swept): where the score comes from.
void PrintCategories(const std::vector<eval::ScoredSeries>& scored,
                     const eval::ThresholdSweep& sweep, double threshold, bool fixed,
                     nlohmann::json* out) {
  std::vector<std::string> category_of, categories;
  for (const eval::ScoredSeries& s : scored) {
    category_of.push_back(s.name.substr(0, s.name.find('/')));
    if (std::find(categories.begin(), categories.end(), category_of.back()) == categories.end())
      categories.push_back(category_of.back());
  }
  fmt::print(
      "\nBy category ({} profile): alone at the threshold {:.6f}; the rest without it, at {}\n",
      sweep.profile.name, threshold, fixed ? "the same" : "their own best threshold");
  fmt::print("  {:<24} {:>5} {:>7} {:>7} {:>8}\n", "category", "files", "windows", "alone",
             "without");
  for (const std::string& category : categories) {
    std::vector<size_t> in(scored.size()), rest(scored.size());
    size_t files = 0, windows = 0;
    for (size_t i = 0; i < scored.size(); ++i) {
      const bool member = category_of[i] == category;
      in[i] = member ? 1 : 0;
      rest[i] = member ? 0 : 1;
      files += in[i];
      windows += member ? scored[i].windows.size() : 0;
    }
    const eval::CorpusResult alone = eval::ScoreAtThreshold(sweep, threshold, in);
    const eval::CorpusResult without = eval::BestThreshold(sweep, rest);
    // A category without windows has no normalised score alone: its false positives only count
    // against the rest.
    fmt::print("  {:<24} {:>5} {:>7} {:>7} {:>8.1f}\n", category, files, windows,
               windows > 0 ? fmt::format("{:.1f}", alone.normalized) : "-", without.normalized);
    (*out)["by_category"][category] = {
        {"files", files},
        {"windows", windows},
        {"alone", windows > 0 ? nlohmann::json(alone.normalized) : nlohmann::json(nullptr)},
        {"without", without.normalized}};
  }
}

}  // namespace

int NabCommand(const NabFlags& flags) {
  auto corpus = eval::LoadNabCorpus(flags.data);
  if (!corpus.ok()) {
    std::fprintf(stderr, "edgeway nab: %s\n", std::string(corpus.status().message()).c_str());
    return kExitUsage;
  }
  std::vector<eval::ScoredSeries> scored;
  for (const eval::LabeledSeries& s : *corpus) {
    const std::vector<double>& values = s.series.values;
    SeriesScorer scorer(s.name, flags.window, flags.detector, flags.threshold,
                        eval::ProbationaryRows(values.size()));
    std::vector<double> scores;
    scores.reserve(values.size());
    for (double v : values) scores.push_back(scorer.Score(v, nullptr));
    scored.push_back({s.name, std::move(scores), s.windows});
  }
  nlohmann::json out = {
      {"detector", flags.detector == "ensemble" ? std::string("ensemble")
                                                : fmt::format("sigma, window {}", flags.window)},
      {"files", corpus->size()}};
  std::vector<eval::CorpusResult> results;
  std::vector<eval::ScoreInterval> intervals;
  std::vector<eval::ThresholdSweep> sweeps;
  const bool fixed = flags.threshold > 0;
  const std::vector<double> thresholds =
      fixed ? std::vector<double>{flags.threshold} : eval::CandidateThresholds(scored);
  for (const eval::Profile& p : eval::NabProfiles()) {
    const eval::ThresholdSweep& sweep =
        sweeps.emplace_back(eval::SweepThresholds(scored, p, thresholds));
    results.push_back(eval::BestThreshold(sweep));
    out[p.name] = {{"score", results.back().normalized}, {"threshold", results.back().threshold}};
    if (flags.resamples > 0) {
      intervals.push_back(eval::BootstrapSeries(sweep, flags.resamples, /*seed=*/1));
      out[p.name]["resampled"] = {{"low", intervals.back().low},
                                  {"median", intervals.back().median},
                                  {"high", intervals.back().high},
                                  {"resamples", flags.resamples}};
    }
  }
  const eval::Profile& standard = eval::NabProfiles()[0];
  fmt::print("{:<58} {:>6} {:>4} {:>4} {:>4} {:>4} {:>8}\n", "file (standard profile)", "rows",
             "win", "TP", "FP", "FN", "raw");
  for (const eval::ScoredSeries& s : scored) {
    eval::SeriesResult r = eval::ScoreSeries(s, results[0].threshold, standard);
    fmt::print("{:<58} {:>6} {:>4} {:>4} {:>4} {:>4} {:>8.3f}\n", s.name, s.scores.size(),
               s.windows.size(), r.true_positives, r.false_positives, r.false_negatives, r.score);
  }
  if (fixed) {
    out["fixed_threshold"] = flags.threshold;
    fmt::print("\nNAB scores over {} files at the threshold {}{}:\n", scored.size(),
               flags.threshold,
               flags.detector == "ensemble"
                   ? " (each event reported at its first score this high, as by a gateway with "
                     "this analytics.anomaly_threshold)"
                   : "");
  } else {
    fmt::print("\nNAB scores over {} files (threshold chosen per profile):\n", scored.size());
  }
  for (size_t i = 0; i < results.size(); ++i) {
    fmt::print("  {:<20} {:6.1f}   (threshold {:.6f})", eval::NabProfiles()[i].name,
               results[i].normalized, results[i].threshold);
    if (!intervals.empty())
      fmt::print("   {:.1f} to {:.1f} in 90% of resamples", intervals[i].low, intervals[i].high);
    fmt::print("\n");
  }
  if (!intervals.empty()) {
    fmt::print(
        "(90% of {} corpora of {} files drawn from these with replacement, each at {}: how "
        "much the score owes to which files are in the corpus)\n",
        flags.resamples, scored.size(), fixed ? "that threshold" : "its own best threshold");
  }
  PrintCategories(scored, sweeps[0], results[0].threshold, fixed, &out);
  if (!flags.json.empty() && !WriteSummary(flags.json, out.dump(2))) return kExitFailure;
  return kExitOk;
}

}  // namespace edgeway::app
