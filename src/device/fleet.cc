#include "edgeway/device/fleet.h"

#include <cmath>
#include <map>
#include <numbers>
#include <random>
#include <set>
#include <tuple>

#include "edgeway/core/strings.h"
#include "edgeway/mqtt/client.h"
#include "fmt/format.h"
#include "spdlog/spdlog.h"

namespace edgeway::device {
namespace {

constexpr double kDaySeconds = 86400;
constexpr int64_t kEpoch2000 = 946'684'800;  // MicroPython's epoch on some ports
constexpr uint64_t kStuckAfter = 20;         // samples before a sensor sticks: its runs are known

struct SimDevice {
  std::string id;
  WireFormat format = WireFormat::kSeedJson;
  bool epoch_2000_clock = false;
  double phase = 0;       // of the daily cycle
  double temp_base = 22;  // deg C
  double hum_base = 45;   // %RH
  double battery_base = 80;
  uint64_t anomaly_offset = 0;
  uint64_t stuck_from = UINT64_MAX;  // the sample at which one sensor sticks, if any
  size_t stuck_sensor = 0;
  double stuck_value = 0;
  int64_t stuck_from_ns = 0;
  uint64_t samples = 0;
  int64_t next_ns = 0;
  std::string location;
};

const char* kSensors[] = {"temperature", "humidity", "battery"};

}  // namespace

struct Fleet::Impl {
  FleetOptions options;
  std::vector<SimDevice> devices;
  std::unique_ptr<mqtt::Client> client;
  std::mt19937_64 rng;
  std::normal_distribution<double> noise{0, 1};
};

size_t CountDetected(const std::vector<InjectedAnomaly>& injected,
                     const std::vector<Insight>& insights, int64_t tolerance_ns, int64_t late_ns) {
  std::map<std::tuple<std::string, std::string, Insight::Kind>, std::multiset<int64_t>> flagged;
  for (const Insight& in : insights) {
    flagged[{in.device_id, in.sensor, in.kind}].insert(in.ts_ns);
  }
  size_t detected = 0;
  for (const InjectedAnomaly& a : injected) {
    auto it = flagged.find({a.device_id, a.sensor, a.kind});
    if (it == flagged.end()) continue;
    auto near = it->second.lower_bound(a.ts_ns - tolerance_ns);
    if (near != it->second.end() && *near <= a.ts_ns + tolerance_ns + late_ns) {
      ++detected;
      it->second.erase(near);
    }
  }
  return detected;
}

Fleet::Fleet(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

absl::StatusOr<std::unique_ptr<Fleet>> Fleet::Start(FleetOptions options) {
  if (options.devices == 0) return absl::InvalidArgumentError("--devices must be at least 1");
  if (!(options.interval_s > 0)) return absl::InvalidArgumentError("--interval must be > 0");
  if (options.senml_share < 0 || options.python_dict_share < 0 ||
      options.senml_share + options.python_dict_share > 1) {
    return absl::InvalidArgumentError("format shares must be >= 0 and add up to at most 1");
  }
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->rng.seed(options.seed);
  std::uniform_real_distribution<double> uniform(0, 1);
  const int64_t now = options.clock->NowNs();
  const int64_t interval_ns = static_cast<int64_t>(options.interval_s * 1e9);
  size_t python_dicts = 0;
  for (size_t i = 0; i < options.devices; ++i) {
    SimDevice d;
    d.id = fmt::format("{}{:04d}", options.id_prefix, i);
    // Formats interleave so that any prefix of the fleet has every kind.
    double position = static_cast<double>(i % 10) / 10.0;
    if (position < options.python_dict_share) {
      d.format = WireFormat::kPythonDict;
      d.epoch_2000_clock = python_dicts++ % 4 == 3;
    } else if (position < options.python_dict_share + options.senml_share) {
      d.format = WireFormat::kSenml;
    }
    d.phase = uniform(impl->rng) * 2 * std::numbers::pi;
    d.temp_base = 18 + 8 * uniform(impl->rng);
    d.hum_base = 35 + 20 * uniform(impl->rng);
    d.battery_base = 70 + 20 * uniform(impl->rng);
    d.anomaly_offset = options.anomaly_every > 0 ? (i * 7919) % options.anomaly_every : 0;
    if (options.stuck_every > 0 && options.stuck_samples > 0 &&
        i % options.stuck_every == options.stuck_every / 2) {
      d.stuck_from = kStuckAfter + (i * 7) % 10;
      d.stuck_sensor = (i / options.stuck_every) % 3;
    }
    d.next_ns = now + static_cast<int64_t>(uniform(impl->rng) * static_cast<double>(interval_ns));
    d.location = fmt::format("site-{}/room-{}", i / 50, 100 + i % 50);
    impl->devices.push_back(std::move(d));
  }
  auto client = mqtt::Client::Start({.url = options.broker_url}, nullptr);
  if (!client.ok()) return client.status();
  if (absl::Status s = (*client)->WaitConnected(std::chrono::seconds(10)); !s.ok()) {
    return absl::UnavailableError(StrCat("fleet: ", s.message()));
  }
  impl->client = std::move(*client);
  std::unique_ptr<Fleet> fleet(new Fleet(std::move(impl)));
  fleet->thread_ = std::thread([f = fleet.get()] { f->Run(); });
  return fleet;
}

Fleet::~Fleet() { Stop(); }

void Fleet::Stop() {
  if (stop_.exchange(true)) return;
  if (thread_.joinable()) thread_.join();
  if (impl_->client) {
    absl::Status s = impl_->client->WaitPublished(std::chrono::seconds(10));
    if (!s.ok()) spdlog::warn("fleet: {}", s.message());
    impl_->client->Stop();
  }
  spdlog::debug("fleet stopped");
}

WireFormat Fleet::format_of(size_t index) const { return impl_->devices.at(index).format; }
std::string Fleet::device_id(size_t index) const { return impl_->devices.at(index).id; }

std::vector<InjectedAnomaly> Fleet::injected() const {
  std::lock_guard lock(mu_);
  return injected_;
}

void Fleet::Run() {
  Impl& p = *impl_;
  const FleetOptions& o = p.options;
  const int64_t interval_ns = static_cast<int64_t>(o.interval_s * 1e9);
  uint64_t since_bad = 0;
  size_t finished = 0;
  while (!stop_.load(std::memory_order_relaxed)) {
    const int64_t now = o.clock->NowNs();
    int64_t next_due = INT64_MAX;
    for (SimDevice& d : p.devices) {
      if (o.samples_per_device > 0 && d.samples >= o.samples_per_device) continue;
      if (d.next_ns > now) {
        next_due = std::min(next_due, d.next_ns);
        continue;
      }
      const double t = static_cast<double>(now) / 1e9;
      const double day = std::sin(2 * std::numbers::pi * t / kDaySeconds + d.phase);
      double values[3] = {
          d.temp_base + 3 * day + 0.2 * p.noise(p.rng),
          d.hum_base - 8 * day + 0.5 * p.noise(p.rng),
          d.battery_base + 10 * day + 0.05 * p.noise(p.rng),
      };
      const bool frozen = d.samples >= d.stuck_from && d.samples - d.stuck_from < o.stuck_samples;
      size_t anomalous_sensor = (d.samples / std::max<uint64_t>(o.anomaly_every, 1)) % 3;
      const bool inject = o.anomaly_every > 0 && d.samples >= o.anomaly_after &&
                          (d.samples + d.anomaly_offset) % o.anomaly_every == 0 &&
                          !(frozen && anomalous_sensor == d.stuck_sensor);
      if (inject) {
        static constexpr double kJump[3] = {12, 30, -35};  // far beyond each sensor's noise
        values[anomalous_sensor] += kJump[anomalous_sensor];
      }
      if (frozen) {
        if (d.samples == d.stuck_from) {
          d.stuck_value = values[d.stuck_sensor];
          d.stuck_from_ns = now;
        }
        values[d.stuck_sensor] = d.stuck_value;
      }
      std::string topic = StrCat("devices/", d.id, "/telemetry");
      std::string payload;
      const double ts = t;  // what the device believes the time is
      switch (d.format) {
        case WireFormat::kSeedJson:
          payload = fmt::format(
              R"({{"device_id": "{}", "timestamp": {:.6f}, "temperature": {:.3f}, "humidity": {:.3f}, "battery": {:.3f}, "location": "{}"}})",
              d.id, ts, values[0], values[1], values[2], d.location);
          break;
        case WireFormat::kSenml:
          payload = fmt::format(
              R"([{{"bn": "{}:", "bt": {:.6f}, "n": "temperature", "u": "Cel", "v": {:.3f}}}, {{"n": "humidity", "u": "%RH", "v": {:.3f}}}, {{"n": "battery", "u": "%EL", "v": {:.3f}}}])",
              d.id, ts, values[0], values[1], values[2]);
          break;
        case WireFormat::kPythonDict: {
          topic = "sensors/temperature";
          double device_time = d.epoch_2000_clock ? ts - static_cast<double>(kEpoch2000) : ts;
          payload = fmt::format(
              "{{'device_id': '{}', 'timestamp': {:.3f}, 'temperature': {:.2f}, "
              "'humidity': {:.2f}, 'battery': {:.2f}, 'location': '{}', 'ok': True}}",
              d.id, device_time, values[0], values[1], values[2], d.location);
          break;
        }
      }
      if (inject) {
        std::lock_guard lock(mu_);
        injected_.push_back({d.id, kSensors[anomalous_sensor], now, values[anomalous_sensor]});
      }
      if (frozen && d.samples - d.stuck_from == o.stuck_samples - 1) {
        std::lock_guard lock(mu_);
        injected_.push_back({d.id, kSensors[d.stuck_sensor], d.stuck_from_ns, d.stuck_value,
                             Insight::Kind::kStuck});
      }
      absl::Status s = p.client->Publish(topic, payload, o.qos);
      if (s.ok()) {
        published_.fetch_add(1, std::memory_order_relaxed);
      } else {
        publish_errors_.fetch_add(1, std::memory_order_relaxed);
      }
      if (o.bad_every > 0 && ++since_bad >= o.bad_every) {
        since_bad = 0;
        static const char* kBad[] = {
            R"({"device_id": "broken-1", "temperature": )",   // truncated
            R"({"temperature": 21.5})",                       // no device id
            "{'device_id': 'broken-2', 'temperature': nan}",  // NaN
            "\x01\x02 binary garbage",                        // not text
        };
        const char* bad = kBad[bad_published_.load(std::memory_order_relaxed) % 4];
        if (p.client->Publish("sensors/temperature", bad, o.qos).ok()) {
          bad_published_.fetch_add(1, std::memory_order_relaxed);
        }
      }
      ++d.samples;
      d.next_ns += interval_ns;
      if (d.next_ns < now) d.next_ns = now + interval_ns;  // fell behind: skip, do not burst
      if (o.samples_per_device > 0 && d.samples >= o.samples_per_device) ++finished;
      next_due = std::min(next_due, d.next_ns);
    }
    if (o.samples_per_device > 0 && finished >= p.devices.size()) {
      done_.store(true, std::memory_order_release);
      break;
    }
    int64_t wait_ns = std::clamp<int64_t>(next_due - o.clock->NowNs(), 0, 50 * kNsPerMs);
    if (wait_ns > 0) std::this_thread::sleep_for(std::chrono::nanoseconds(wait_ns));
  }
}

}  // namespace edgeway::device
