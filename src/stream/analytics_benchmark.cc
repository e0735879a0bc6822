// The analytics core on the seed's workload: one stream, window 50, the three processors
// (anomaly detection, pattern recognition with a forecast, aggregation), 10 sensors.
// scripts/bench runs the seed's Python processor on the same stream and prints the ratio.
#include <random>

#include "benchmark/benchmark.h"
#include <cmath>

#include "edgeway/stream/analytics.h"
#include "edgeway/stream/detector.h"

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

}  // namespace
}  // namespace edgeway::stream

BENCHMARK_MAIN();
