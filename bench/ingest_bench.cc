// End-to-end ingest through a real mosquitto: the same publisher sends the same messages to
// (A) a subscriber that only counts them and (B) the edgeway gateway (decode, analytics, SQLite).
// Prints messages/s of each, the ratio B/A, and B's publish-to-stored latency percentiles.
//
//   ingest_bench [--messages N] [--qos 0|1] [--devices D] [--json PATH]
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "edgeway/core/clock.h"
#include "edgeway/core/log.h"
#include "edgeway/gateway/gateway.h"
#include "edgeway/mqtt/broker.h"
#include "edgeway/mqtt/client.h"
#include "fmt/format.h"
#include "nlohmann/json.hpp"

namespace edgeway {
namespace {

struct Result {
  uint64_t delivered = 0;
  double seconds = 0;
  double rate() const { return seconds > 0 ? static_cast<double>(delivered) / seconds : 0; }
};

// Publishes `n` telemetry messages, each carrying its publish time as the event time
// (nanoseconds): as fast as the client takes them, or at `rate` messages/s when rate > 0.
void PublishAll(mqtt::Client& pub, uint64_t n, int qos, int devices, double rate = 0) {
  const int64_t start = MonotonicNs();
  for (uint64_t i = 0; i < n; ++i) {
    if (rate > 0) {
      int64_t due = start + static_cast<int64_t>(static_cast<double>(i) * 1e9 / rate);
      int64_t wait = due - MonotonicNs();
      if (wait > 0) std::this_thread::sleep_for(std::chrono::nanoseconds(wait));
    }
    std::string payload = fmt::format(R"({{"device_id": "dev-{}", "timestamp": {}, "value": {}}})",
                                      i % static_cast<uint64_t>(devices), Clock::Real()->NowNs(),
                                      20.0 + static_cast<double>(i % 17) * 0.1);
    while (!pub.Publish("sensors/bench", payload, qos).ok()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
}

// Waits until `count()` reaches n, or stops growing for `idle`.
template <typename Count>
void WaitForCount(Count count, uint64_t n, std::chrono::milliseconds idle) {
  uint64_t last = 0;
  int64_t last_change = MonotonicNs();
  while (true) {
    uint64_t c = count();
    if (c >= n) return;
    if (c != last) {
      last = c;
      last_change = MonotonicNs();
    } else if (MonotonicNs() - last_change > idle.count() * kNsPerMs) {
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

Result CountingSubscriber(uint64_t n, int qos, int devices) {
  auto broker = mqtt::EmbeddedBroker::Start({});
  std::atomic<uint64_t> received{0};
  std::atomic<int64_t> last_ns{0};
  auto sub = mqtt::Client::Start(
      {.url = (*broker)->url(), .subscribe_topics = {"sensors/#"}, .subscribe_qos = qos},
      [&](std::string_view, std::string_view, int) {
        received.fetch_add(1, std::memory_order_relaxed);
        last_ns.store(MonotonicNs(), std::memory_order_relaxed);
      });
  (void)(*sub)->WaitConnected(std::chrono::seconds(10));
  auto pub = mqtt::Client::Start({.url = (*broker)->url()}, nullptr);
  (void)(*pub)->WaitConnected(std::chrono::seconds(10));
  int64_t start = MonotonicNs();
  PublishAll(**pub, n, qos, devices);
  WaitForCount([&] { return received.load(); }, n, std::chrono::milliseconds(3000));
  return {received.load(), static_cast<double>(last_ns.load() - start) / 1e9};
}

struct GatewayResult {
  Result result;
  double p50_ms = 0, p99_ms = 0, max_ms = 0;
};

int g_shards = 0;
int64_t g_group_commit_ms = 0;

GatewayResult Gateway(uint64_t n, int qos, int devices, double rate = 0) {
  auto broker = mqtt::EmbeddedBroker::Start({});
  std::string dir =
      (std::filesystem::temp_directory_path() / fmt::format("edgeway-bench-{}", getpid())).string();
  std::filesystem::create_directories(dir);
  auto config = gateway::ParseConfig("", "-");
  config->mqtt.broker = (*broker)->url();
  config->mqtt.qos = qos;
  config->shards = g_shards;
  config->store.group_commit_ms = g_group_commit_ms;
  config->mqtt.client_id = fmt::format("bench-{}", getpid());
  config->store.path = dir + "/bench.db";
  std::vector<int64_t> latencies;
  latencies.reserve(n);
  std::atomic<int64_t> last_ns{0};
  auto gw =
      gateway::Gateway::Start({.config = *config, .on_commit = [&](const ResultBatch& committed) {
                                 const int64_t now = Clock::Real()->NowNs();
                                 for (const Reading& r : committed.readings)
                                   latencies.push_back(now - r.ts_ns);
                                 last_ns.store(MonotonicNs(), std::memory_order_relaxed);
                               }});
  auto pub = mqtt::Client::Start({.url = (*broker)->url()}, nullptr);
  (void)(*pub)->WaitConnected(std::chrono::seconds(10));
  int64_t start = MonotonicNs();
  PublishAll(**pub, n, qos, devices, rate);
  WaitForCount([&] { return static_cast<uint64_t>((*gw)->stats().readings_stored); }, n,
               std::chrono::milliseconds(3000));
  (*gw)->Stop();
  GatewayResult out;
  out.result = {static_cast<uint64_t>((*gw)->stats().readings_stored),
                static_cast<double>(last_ns.load() - start) / 1e9};
  std::sort(latencies.begin(), latencies.end());
  auto pct = [&](double p) {
    if (latencies.empty()) return 0.0;
    return static_cast<double>(
               latencies[static_cast<size_t>(p * static_cast<double>(latencies.size() - 1))]) /
           1e6;
  };
  out.p50_ms = pct(0.5);
  out.p99_ms = pct(0.99);
  out.max_ms = pct(1.0);
  std::filesystem::remove_all(dir);
  return out;
}

}  // namespace
}  // namespace edgeway

int main(int argc, char** argv) {
  CLI::App app{"End-to-end ingest benchmark: edgeway gateway vs a counting subscriber"};
  uint64_t messages = 200000;
  std::vector<int> qos_levels = {0, 1};
  int devices = 1000;
  double paced_rate = 5000;
  std::string json_path;
  app.add_option("--messages", messages, "messages per run")->capture_default_str();
  app.add_option("--qos", qos_levels, "QoS levels to run")->capture_default_str();
  app.add_option("--devices", devices, "distinct device ids")->capture_default_str();
  app.add_option("--paced-rate", paced_rate, "messages/s of the latency run (below saturation)")
      ->capture_default_str();
  app.add_option("--json", json_path, "also write results as JSON");
  app.add_option("--shards", edgeway::g_shards, "gateway analytics shards (0: one per core)")
      ->capture_default_str();
  app.add_option("--group-commit-ms", edgeway::g_group_commit_ms, "store.group_commit_ms")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  (void)edgeway::InitLogging("error");
  nlohmann::json all = nlohmann::json::array();
  for (int qos : qos_levels) {
    edgeway::Result counter = edgeway::CountingSubscriber(messages, qos, devices);
    edgeway::GatewayResult gw = edgeway::Gateway(messages, qos, devices);
    double ratio = counter.rate() > 0 ? gw.result.rate() / counter.rate() : 0;
    std::printf(
        "QoS %d, %llu messages flat out: counting subscriber %.0f msg/s (%llu delivered), gateway "
        "stored %.0f msg/s (%llu stored): ratio %.2f\n",
        qos, static_cast<unsigned long long>(messages), counter.rate(),
        static_cast<unsigned long long>(counter.delivered), gw.result.rate(),
        static_cast<unsigned long long>(gw.result.delivered), ratio);
    uint64_t paced_n = static_cast<uint64_t>(paced_rate * 10);
    edgeway::GatewayResult paced = edgeway::Gateway(paced_n, qos, devices, paced_rate);
    std::printf(
        "QoS %d, %.0f msg/s for 10 s: publish-to-stored latency p50 %.2f ms, p99 %.2f ms, max "
        "%.2f ms (%llu of %llu stored)\n",
        qos, paced_rate, paced.p50_ms, paced.p99_ms, paced.max_ms,
        static_cast<unsigned long long>(paced.result.delivered),
        static_cast<unsigned long long>(paced_n));
    all.push_back({{"qos", qos},
                   {"messages", messages},
                   {"subscriber_rate", counter.rate()},
                   {"subscriber_delivered", counter.delivered},
                   {"gateway_rate", gw.result.rate()},
                   {"gateway_stored", gw.result.delivered},
                   {"ratio", ratio},
                   {"paced_rate", paced_rate},
                   {"latency_p50_ms", paced.p50_ms},
                   {"latency_p99_ms", paced.p99_ms},
                   {"latency_max_ms", paced.max_ms}});
  }
  if (!json_path.empty()) {
    std::FILE* f = std::fopen(json_path.c_str(), "w");
    if (f != nullptr) {
      std::fputs(all.dump(2).c_str(), f);
      std::fclose(f);
    }
  }
  return 0;
}
