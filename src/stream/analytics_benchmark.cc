// The analytics core on the seed's workload: one stream, window 50, the three processors
// (anomaly detection, pattern recognition with a forecast, aggregation), 10 sensors.
// scripts/bench runs the seed's Python processor on the same stream and prints the ratio.
#include <cmath>
#include <random>

#include "benchmark/benchmark.h"
#include "edgeway/stream/analytics.h"
#include "edgeway/stream/detector.h"
#include "edgeway/stream/event_window.h"

namespace edgeway::stream {
namespace {

// The seed's mock stream: 50 + U(-5, 5), every 100th reading 50 + U(30, 50); sensor_{i % 10}.
std::vector<Reading> SeedStream(size_t n) {
  std::mt19937_64 rng(1);
  std::uniform_real_distribution<double> small(-5, 5), big(30, 50);
  std::vector<Reading> out(n);
  for (size_t i = 0; i < n; ++i) {
    out[i].device_id = "edge-1";
    out[i].sensor = "sensor_" + std::to_string(i % 10);
    out[i].value = 50 + (i % 100 == 99 ? big(rng) : small(rng));
    out[i].ts_ns = static_cast<int64_t>(i);
  }
  return out;
}

void BM_SeedWorkload(benchmark::State& state) {
  std::vector<Reading> stream = SeedStream(100000);
  KeyedAnalytics analytics({.window = 50});
  std::vector<Insight> insights;
  size_t i = 0;
  double sink = 0;
  for (auto _ : state) {
    const Reading& r = stream[i];
    Verdict v = analytics.Process(r, &insights);
    sink +=
        v.forecast + v.min + v.max + static_cast<double>(v.count + static_cast<size_t>(v.trend));
    if (++i == stream.size()) i = 0;
    if (insights.size() > 1024) insights.clear();
  }
  benchmark::DoNotOptimize(sink);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_SeedWorkload);

// The anomaly-detector ensemble on one series with a daily cycle and noise.
void BM_Ensemble(benchmark::State& state) {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> noise(0, 1);
  std::vector<double> series(100000);
  for (size_t i = 0; i < series.size(); ++i) {
    series[i] = 50 + 10 * std::sin(static_cast<double>(i) * 2 * 3.14159265 / 288) + noise(rng);
  }
  AnomalyDetector detector;
  size_t i = 0;
  double sink = 0;
  for (auto _ : state) {
    sink += detector.Update(series[i]);
    if (++i == series.size()) i = 0;
  }
  benchmark::DoNotOptimize(sink);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.counters["state_bytes"] = static_cast<double>(detector.bytes());
}
BENCHMARK(BM_Ensemble);

void BM_WindowPush(benchmark::State& state) {
  CountWindow w(static_cast<size_t>(state.range(0)));
  double x = 0;
  for (auto _ : state) {
    w.Push(x);
    x += 0.37;
    if (x > 100) x = 0;
    benchmark::DoNotOptimize(w.mean() + w.variance() + w.min() + w.max());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_WindowPush)->Arg(50)->Arg(1000);

// Event-time windows of one key, a reading a second in order: tumbling minutes, and hours
// sliding every 10 s (state.range(0) = size / slide). Counters: the values buffered per key at
// the end, and the bytes they take.
void BM_EventWindow(benchmark::State& state) {
  constexpr int64_t kS = 1'000'000'000;
  const int64_t slides = state.range(0);
  WindowSpec spec = {.name = "w",
                     .kind = slides == 1 ? WindowKind::kTumbling : WindowKind::kSliding,
                     .size_ns = (slides == 1 ? 60 : 10 * slides) * kS,
                     .slide_ns = slides == 1 ? 0 : 10 * kS,
                     .watermark_delay_ns = 5 * kS};
  if (state.range(1) == 0) spec.percentiles.clear();  // then no values are kept
  KeyWindows windows(&spec);
  std::mt19937_64 rng(4);
  std::normal_distribution<double> noise(20, 1);
  Reading r{.device_id = "d", .sensor = "t"};
  std::vector<WindowResult> results;
  std::vector<LateReading> late;
  for (auto _ : state) {
    r.ts_ns += kS;
    r.value = noise(rng);
    windows.Add(r, &results, &late);
    results.clear();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.counters["values_per_key"] = static_cast<double>(windows.buffered_values());
}
BENCHMARK(BM_EventWindow)->Args({1, 1})->Args({6, 1})->Args({360, 1})->Args({360, 0});

// A device back after a 10-minute outage sends the 600 readings it kept, into an hour sliding
// every 10 s with an hour of allowed lateness, in batches of state.range(0) readings (the
// gateway's batches are up to 512; 1 is a window revised per late reading). Time per backlog,
// and the window results it causes.
void BM_EventWindowBacklog(benchmark::State& state) {
  constexpr int64_t kS = 1'000'000'000;
  const int batch = static_cast<int>(state.range(0));
  WindowSpec spec = {.name = "w",
                     .kind = WindowKind::kSliding,
                     .size_ns = 3600 * kS,
                     .slide_ns = 10 * kS,
                     .watermark_delay_ns = 5 * kS,
                     .allowed_lateness_ns = 3600 * kS};
  std::vector<WindowResult> results;
  std::vector<LateReading> late;
  Reading r{.device_id = "d", .sensor = "t"};
  for (auto _ : state) {
    state.PauseTiming();
    KeyWindows windows(&spec);
    for (int i = 0; i < 7200; ++i) {  // two hours, but for minutes 60 to 70
      if (i >= 3600 && i < 4200) continue;
      r.ts_ns = i * kS;
      r.value = i % 13;
      windows.Add(r, &results, &late);
    }
    windows.Revise(&results);
    results.clear();
    state.ResumeTiming();
    for (int i = 3600; i < 4200; ++i) {
      r.ts_ns = i * kS;
      r.value = i % 13;
      windows.Add(r, &results, &late);
      if ((i + 1) % batch == 0) windows.Revise(&results);
    }
    windows.Revise(&results);
    state.counters["results"] = static_cast<double>(results.size());
  }
}
BENCHMARK(BM_EventWindowBacklog)->Arg(1)->Arg(512)->Unit(benchmark::kMillisecond);

// A shard's housekeeping every second: which keys' windows are idle, which keys to forget, over
// 10,000 devices with three sensors each and a minute's window on each key (none idle or
// forgotten: the pass that finds nothing, every second of every shard).
void BM_Housekeeping(benchmark::State& state) {
  constexpr int64_t kS = 1'000'000'000;
  KeyedAnalytics analytics({});
  KeyedWindows windows({WindowSpec{.name = "w", .size_ns = 60 * kS, .idle_timeout_ns = 65 * kS}});
  std::vector<Insight> insights;
  std::vector<WindowResult> results;
  std::vector<LateReading> late;
  for (int d = 0; d < 10000; ++d) {
    for (const char* sensor : {"temperature", "humidity", "pressure"}) {
      const Reading r = {.device_id = "sim-" + std::to_string(100000 + d),
                         .sensor = sensor,
                         .ts_ns = kS,
                         .value = 1,
                         .received_ns = 1000 * kS};
      analytics.Process(r, &insights);
      windows.Process(r, &results, &late);
    }
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize(analytics.Forget(/*cutoff_ns=*/0, /*since_ns=*/0));
    windows.Idle(/*now_ns=*/1001 * kS, /*since_ns=*/0, &results);
  }
  state.counters["keys"] = static_cast<double>(analytics.keys());
}
BENCHMARK(BM_Housekeeping)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace edgeway::stream

BENCHMARK_MAIN();
