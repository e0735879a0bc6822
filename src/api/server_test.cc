// The API over real HTTP, against a running gateway with a real mosquitto and SQLite file.
#include "edgeway/api/server.h"

#include <map>

#include "edgeway/mqtt/client.h"
#include "fmt/format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "testing/process.h"
#include "testing/temp_dir.h"

namespace edgeway::api {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using ::testing::HasSubstr;

class ApiServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto config = gateway::ParseConfig(
        "windows: [{name: 10s, type: tumbling, size_s: 10, sensors: [temp]}]\n"
        "analytics: {per_sensor: [{sensors: [pressure], window: 20}]}\n"
        "ingest: {plausible: [{sensors: [voltage], max: 500}]}",
        "-");
    ASSERT_TRUE(config.ok()) << config.status();
    config_ = *config;
    config_.store.path = dir_.File("api.db");
    config_.mqtt.client_id = "api-test";
    StartGateway();
    StartServer({.listen = "127.0.0.1:0"});
  }
  void TearDown() override { StopAll(); }
  // A gateway on the store, with a publisher connected to its broker.
  void StartGateway() {
    auto gw = gateway::Gateway::Start({.config = config_,
                                       .on_commit =
                                           [this](const ResultBatch& committed) {
                                             if (ApiServer* s = live_.load()) s->Publish(committed);
                                           },
                                       .on_expire =
                                           [this](const store::Expired& expired) {
                                             if (ApiServer* s = live_.load()) s->Expire(expired);
                                           }});
    ASSERT_TRUE(gw.ok()) << gw.status();
    gateway_ = std::move(*gw);
    auto pub = mqtt::Client::Start({.url = gateway_->broker_url()}, nullptr);
    ASSERT_TRUE(pub.ok());
    publisher_ = std::move(*pub);
    ASSERT_TRUE(publisher_->WaitConnected(milliseconds(5000)).ok());
  }
  void StopAll() {
    publisher_.reset();
    gateway_->Stop();
    live_.store(nullptr);
    if (server_) server_->Stop();
  }
  // With `seed`, the server adds what the store held before to its devices (as edgeway run's).
  void StartServer(ApiOptions options, bool seed = true) {
    auto server = ApiServer::Start(options, gateway_.get());
    ASSERT_TRUE(server.ok()) << server.status();
    // Swapped between commits: no call to the one replaced is under way when it stops.
    gateway_->BetweenCommits([&] { live_.store(server->get()); });
    server_ = std::move(*server);
    if (seed) server_->SeedDirectory();
    std::string url = server_->url();
    client_ = std::make_unique<httplib::Client>(url);
  }
  // Publishes 30 readings of sim-1/temp (a spike at the 25th) and 10 of sim-2/hum, and waits
  // until they are stored.
  void PublishFleet() {
    const int64_t base = Clock::Real()->NowNs() / 1'000'000'000 - 100;
    for (int i = 0; i < 30; ++i) {
      double v = i == 25 ? 90.0 : 20.0 + (i % 2);
      ASSERT_TRUE(publisher_
                      ->Publish("devices/sim-1/telemetry",
                                fmt::format(R"({{"timestamp": {}, "temp": {}}})", base + i, v), 1)
                      .ok());
    }
    for (int i = 0; i < 10; ++i) {
      ASSERT_TRUE(publisher_
                      ->Publish("devices/sim-2/telemetry",
                                fmt::format(R"({{"timestamp": {}, "hum": {}}})", base + i, 40 + i),
                                1)
                      .ok());
    }
    ASSERT_TRUE(testing::WaitUntil([&] { return gateway_->stats().readings_stored == 40; },
                                   milliseconds(10000)));
  }
  json Get(const std::string& path, int expected_status = 200) {
    auto res = client_->Get(path.c_str());
    EXPECT_TRUE(res) << path;
    if (!res) return {};
    EXPECT_EQ(res->status, expected_status) << path << ": " << res->body;
    return json::parse(res->body, nullptr, false);
  }

  // Readings per device, from /api/v1/devices.
  std::map<std::string, int64_t> Counts() {
    std::map<std::string, int64_t> out;
    const json devices = Get("/api/v1/devices");
    for (const json& d : devices["devices"]) out[d["id"]] = d["readings"];
    return out;
  }

  testing::TempDir dir_;
  gateway::GatewayConfig config_;
  std::unique_ptr<gateway::Gateway> gateway_;
  std::atomic<ApiServer*> live_{nullptr};
  std::unique_ptr<ApiServer> server_;
  std::unique_ptr<mqtt::Client> publisher_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(ApiServerTest, HealthSummaryAndPipelines) {
  EXPECT_EQ(Get("/api/v1/health/live")["status"], "ok");
  EXPECT_EQ(Get("/api/v1/health/ready")["status"], "ready");
  PublishFleet();
  json summary = Get("/api/v1/summary");
  EXPECT_EQ(summary["readings_stored"], 40);
  json pipelines = Get("/api/v1/pipelines");
  EXPECT_EQ(pipelines["pipelines"][0]["analytics"]["window"], 50);
  EXPECT_EQ(pipelines["pipelines"][0]["analytics"]["detector"], "sigma");
  EXPECT_EQ(pipelines["pipelines"][0]["analytics"]["ensemble_warmup"], 300);
  const json& pressure = pipelines["pipelines"][0]["analytics"]["per_sensor"][0];
  EXPECT_EQ(pressure["sensors"], json::array({"pressure"}));
  EXPECT_EQ(pressure["window"], 20);
  EXPECT_EQ(pressure["detector"], "sigma");
  EXPECT_EQ(pipelines["pipelines"][0]["windows"][0]["idle_timeout_s"], 10);
  EXPECT_EQ(pipelines["pipelines"][0]["analytics"]["save_interval_s"], 900);
  EXPECT_EQ(pipelines["pipelines"][0]["analytics"]["forget_after_s"], 7 * 24 * 3600);
  EXPECT_EQ(pipelines["pipelines"][0]["plausible"],
            json::parse(R"([{"sensors": ["voltage"], "min": null, "max": 500.0}])"));
}

TEST_F(ApiServerTest, ARestartedServerCountsEachStoredReadingOnce) {
  // A new server gets every commit, then reads the devices the store holds: each reading is
  // counted either from the store or as it is committed, never both, never neither.
  PublishFleet();
  StartServer({.listen = "127.0.0.1:0"}, /*seed=*/false);
  auto publish = [&](int n, int64_t base) {
    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE(publisher_
                      ->Publish("devices/sim-1/telemetry",
                                fmt::format(R"({{"timestamp": {}.{:03d}, "temp": 20}})", base, i),
                                1)
                      .ok());
    }
  };
  const int64_t base = Clock::Real()->NowNs() / 1'000'000'000 - 50;
  publish(300, base);  // counted as committed, and then in the store as well
  ASSERT_TRUE(testing::WaitUntil([&] { return gateway_->stats().readings_stored == 340; },
                                 milliseconds(10000)));
  EXPECT_EQ(Counts(), (std::map<std::string, int64_t>{{"sim-1", 300}}));  // what it saw committed
  server_->SeedDirectory();
  publish(50, base + 1);  // after the store was read
  ASSERT_TRUE(testing::WaitUntil([&] { return gateway_->stats().readings_stored == 390; },
                                 milliseconds(10000)));
  const std::map<std::string, int64_t> stored = {{"sim-1", 380}, {"sim-2", 10}};
  EXPECT_TRUE(testing::WaitUntil([&] { return Counts() == stored; }, milliseconds(10000)))
      << Get("/api/v1/devices").dump();
}

TEST_F(ApiServerTest, WhatRetentionDeletedIsNotCounted) {
  // The store of a gateway that was off for a while: sim-1 has 20 readings from eight days ago
  // (beyond the 7-day retention), an anomaly among them, and 10 recent ones; sim-3 has 5 from
  // eight days ago only.
  StopAll();
  {
    const int64_t now = Clock::Real()->NowNs();
    const int64_t old = now - 8 * 24 * 3600 * kNsPerSecond;
    ResultBatch batch;
    auto add = [&](const char* device, int64_t ts) {
      batch.readings.push_back({.device_id = device, .sensor = "temp", .ts_ns = ts, .value = 20});
    };
    for (int i = 0; i < 20; ++i) add("sim-1", old + i * kNsPerSecond);
    for (int i = 0; i < 10; ++i) add("sim-1", now - (10 - i) * kNsPerSecond);
    for (int i = 0; i < 5; ++i) add("sim-3", old + i * kNsPerSecond);
    Insight anomaly;
    anomaly.device_id = "sim-1";
    anomaly.sensor = "temp";
    anomaly.ts_ns = old + 15 * kNsPerSecond;
    batch.insights.push_back(anomaly);
    auto store = store::Store::Open({.path = config_.store.path});
    ASSERT_TRUE(store.ok()) << store.status();
    ASSERT_TRUE((*store)->Write(batch).ok());
  }
  // At the start the writer's first retention step deletes the old rows while the server reads
  // the store, before or after its snapshot: either way each is taken off once.
  StartGateway();
  StartServer({.listen = "127.0.0.1:0"});
  EXPECT_TRUE(testing::WaitUntil(
      [&] {
        return Counts() == std::map<std::string, int64_t>{{"sim-1", 10}};
      },
      milliseconds(10000)))
      << Get("/api/v1/devices").dump();
  EXPECT_EQ(Get("/api/v1/devices/sim-1")["anomalies"], 0);
  EXPECT_EQ(gateway_->stats().store_expired, 26);
  EXPECT_THAT(client_->Get("/metrics")->body, HasSubstr("edgeway_store_expired_total 26"));

  // Steps while the server runs: a device is gone with its last reading.
  server_->Expire({.rows = 4, .devices = {{"sim-1", {.readings = 4}}}});
  EXPECT_EQ(Counts(), (std::map<std::string, int64_t>{{"sim-1", 6}}));
  server_->Expire({.rows = 6, .devices = {{"sim-1", {.readings = 6}}}});
  EXPECT_EQ(Get("/api/v1/devices")["count"], 0);
  Get("/api/v1/devices/sim-1", 404);
}

TEST_F(ApiServerTest, DevicesReadingsAndAnomalies) {
  PublishFleet();
  json devices = Get("/api/v1/devices");
  ASSERT_EQ(devices["count"], 2);
  EXPECT_EQ(devices["devices"][0]["id"], "sim-1");
  EXPECT_EQ(devices["devices"][0]["readings"], 30);
  EXPECT_EQ(devices["devices"][0]["anomalies"], 1);
  EXPECT_EQ(devices["devices"][0]["status"], "online");
  EXPECT_EQ(devices["total"], 2);
  EXPECT_EQ(devices["fleet"], json({{"devices", 2}, {"online", 2}}));
  // A page, a part of the id, a status: "total" counts the matches, "fleet" stays the whole.
  json page = Get("/api/v1/devices?offset=1&limit=1");
  ASSERT_EQ(page["count"], 1);
  EXPECT_EQ(page["devices"][0]["id"], "sim-2");
  EXPECT_EQ(page["total"], 2);
  json matched = Get("/api/v1/devices?match=m-1");
  ASSERT_EQ(matched["count"], 1);
  EXPECT_EQ(matched["devices"][0]["id"], "sim-1");
  EXPECT_EQ(matched["total"], 1);
  EXPECT_EQ(matched["fleet"]["devices"], 2);
  EXPECT_EQ(Get("/api/v1/devices?status=online")["total"], 2);
  EXPECT_EQ(Get("/api/v1/devices?status=stale")["count"], 0);
  EXPECT_THAT(Get("/api/v1/devices?status=gone", 400)["error"].get<std::string>(),
              HasSubstr("online or stale"));

  json one = Get("/api/v1/devices/sim-2");
  EXPECT_EQ(one["sensors"][0]["sensor"], "hum");
  EXPECT_DOUBLE_EQ(one["sensors"][0]["value"].get<double>(), 49);
  EXPECT_THAT(Get("/api/v1/devices/nobody", 404)["error"].get<std::string>(), HasSubstr("nobody"));

  json latest = Get("/api/v1/readings?device=sim-1&latest=1&limit=5");
  ASSERT_EQ(latest["count"], 5);
  EXPECT_DOUBLE_EQ(latest["readings"][0]["value"].get<double>(), 90);  // the 25th of 30
  json oldest = Get("/api/v1/readings?device=sim-2&sensor=hum&limit=3");
  EXPECT_DOUBLE_EQ(oldest["readings"][2]["value"].get<double>(), 42);

  json anomalies = Get("/api/v1/anomalies?device=sim-1");
  ASSERT_EQ(anomalies["count"], 1);
  EXPECT_DOUBLE_EQ(anomalies["insights"][0]["value"].get<double>(), 90);
  EXPECT_EQ(Get("/api/v1/insights?kind=anomaly")["count"], 1);
}

TEST_F(ApiServerTest, WindowResultsAndLateReadings) {
  const int64_t base = (Clock::Real()->NowNs() / 1'000'000'000 - 100) / 10 * 10;
  // [base, base + 10) gets 1 and 3; the reading at base + 12 closes it; the one at base + 3
  // comes after that (no allowed lateness): the side output.
  for (auto [offset, value] : {std::pair{1, 1.0}, {5, 3.0}, {12, 10.0}, {3, 5.0}}) {
    ASSERT_TRUE(
        publisher_
            ->Publish("devices/sim-3/telemetry",
                      fmt::format(R"({{"timestamp": {}, "temp": {}}})", base + offset, value), 1)
            .ok());
  }
  ASSERT_TRUE(testing::WaitUntil(
      [&] { return Get("/api/v1/windows/late?device=sim-3")["count"] == 1; }, milliseconds(10000)));
  json windows = Get("/api/v1/windows?device=sim-3&window=10s");
  ASSERT_EQ(windows["count"], 1);
  const json& w = windows["windows"][0];
  EXPECT_EQ(w["start_ns"], std::to_string(base * 1'000'000'000));
  EXPECT_EQ(w["end_ns"], std::to_string((base + 10) * 1'000'000'000));
  EXPECT_EQ(w["count"], 2);
  EXPECT_DOUBLE_EQ(w["mean"].get<double>(), 2);
  EXPECT_DOUBLE_EQ(w["stddev"].get<double>(), 1);
  EXPECT_DOUBLE_EQ(w["percentiles"]["p90"].get<double>(), 2.8);
  EXPECT_EQ(w["revision"], 0);
  json late = Get("/api/v1/windows/late?device=sim-3");
  EXPECT_DOUBLE_EQ(late["late_readings"][0]["value"].get<double>(), 5);
  EXPECT_EQ(late["late_readings"][0]["window"], "10s");
  EXPECT_EQ(Get("/api/v1/summary")["late_readings"], 1);
  EXPECT_EQ(Get("/api/v1/pipelines")["pipelines"][0]["windows"][0]["size_s"], 10);
  EXPECT_THAT(Get("/api/v1/windows?window=1h", 404)["error"].get<std::string>(), HasSubstr("1h"));
}

TEST_F(ApiServerTest, TwinsFollowTelemetryAndTakeDesiredWithOptimisticLocking) {
  // The device's side: it listens for deltas and the retained desired document.
  std::mutex mu;
  std::vector<std::pair<std::string, json>> to_device;
  auto device = mqtt::Client::Start(
      {.url = gateway_->broker_url(), .subscribe_topics = {"devices/sim-1/twin/#"}},
      [&](std::string_view topic, std::string_view payload, int) {
        std::lock_guard lock(mu);
        to_device.emplace_back(std::string(topic), json::parse(payload, nullptr, false));
      });
  ASSERT_TRUE(device.ok());
  ASSERT_TRUE((*device)->WaitConnected(milliseconds(5000)).ok());
  PublishFleet();
  json twin = Get("/api/v1/twins/sim-1");
  EXPECT_EQ(twin["device"], "sim-1");
  EXPECT_EQ(twin["version"], 0);
  EXPECT_TRUE(twin["state"]["reported"].contains("temp"));
  EXPECT_EQ(Get("/api/v1/twins")["count"], 2);
  json second = Get("/api/v1/twins?offset=1&limit=5");
  ASSERT_EQ(second["count"], 1);
  EXPECT_EQ(second["twins"][0]["device"], "sim-2");
  EXPECT_EQ(second["total"], 2);
  EXPECT_EQ(Get("/api/v1/twins?match=m-2")["twins"][0]["device"], "sim-2");
  Get("/api/v1/twins?limit=0", 400);
  EXPECT_THAT(Get("/api/v1/twins/nobody", 404)["error"].get<std::string>(), HasSubstr("nobody"));

  auto patch = [&](const std::string& body, int status) {
    auto res = client_->Patch("/api/v1/twins/sim-1", body, "application/json");
    EXPECT_TRUE(res);
    if (!res) return json();
    EXPECT_EQ(res->status, status) << res->body;
    return json::parse(res->body, nullptr, false);
  };
  json updated = patch(R"({"desired": {"interval_s": 5, "led": true}, "version": 0})", 200);
  EXPECT_EQ(updated["version"], 1);
  EXPECT_EQ(updated["state"]["delta"], json({{"interval_s", 5}, {"led", true}}));
  EXPECT_THAT(
      patch(R"({"desired": {"interval_s": 9}, "version": 0})", 409)["error"].get<std::string>(),
      HasSubstr("version conflict"));
  EXPECT_EQ(patch(R"({"desired": 3})", 400)["error"], "desired must be a JSON object");
  EXPECT_THAT(patch("not json", 400)["error"].get<std::string>(), HasSubstr("body must be"));

  ASSERT_TRUE(testing::WaitUntil(
      [&] {
        std::lock_guard lock(mu);
        return to_device.size() >= 2;
      },
      milliseconds(5000)));
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(to_device[0].first, "devices/sim-1/twin/desired");
    EXPECT_EQ(to_device[0].second["version"], 1);
    EXPECT_EQ(to_device[1].first, "devices/sim-1/twin/delta");
    EXPECT_EQ(to_device[1].second["state"], json({{"interval_s", 5}, {"led", true}}));
  }
  // The device applies it and reports back: the delta is gone.
  ASSERT_TRUE((*device)
                  ->Publish("devices/sim-1/twin/reported", R"({"interval_s": 5, "led": true})", 1)
                  .ok());
  ASSERT_TRUE(testing::WaitUntil(
      [&] { return Get("/api/v1/twins/sim-1")["state"]["delta"].empty(); }, milliseconds(5000)));
  EXPECT_EQ(Get("/api/v1/summary")["readings_stored"], 40);  // twin traffic is not telemetry
}

TEST_F(ApiServerTest, BadParametersAreJsonErrors) {
  EXPECT_THAT(Get("/api/v1/readings?limit=0", 400)["error"].get<std::string>(), HasSubstr("limit"));
  EXPECT_THAT(Get("/api/v1/readings?limit=20000", 400)["error"].get<std::string>(),
              HasSubstr("[1, 10000]"));
  EXPECT_THAT(Get("/api/v1/readings?from=yesterday", 400)["error"].get<std::string>(),
              HasSubstr("from"));
  EXPECT_THAT(Get("/api/v1/readings?device=a%20b", 400)["error"].get<std::string>(),
              HasSubstr("device"));
  EXPECT_THAT(Get("/api/v1/insights?kind=bogus", 400)["error"].get<std::string>(),
              HasSubstr("anomaly, trend or stuck"));
  EXPECT_THAT(Get("/no/such/page", 404)["error"].get<std::string>(), HasSubstr("no such path"));
}

TEST_F(ApiServerTest, MetricsInPrometheusFormat) {
  PublishFleet();
  auto res = client_->Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_THAT(res->body, HasSubstr("# TYPE edgeway_messages_received_total counter\n"
                                   "edgeway_messages_received_total 40\n"));
  EXPECT_THAT(res->body, HasSubstr("edgeway_readings_stored_total 40\n"));
  EXPECT_THAT(res->body, HasSubstr("edgeway_rejected_total{reason=\"malformed\"} 0\n"));
  EXPECT_THAT(res->body, HasSubstr("edgeway_stuck_sensors_total 0\n"));
  EXPECT_THAT(res->body, HasSubstr("edgeway_ingest_to_store_seconds_count 40\n"));
  EXPECT_THAT(res->body, HasSubstr("edgeway_ingest_to_store_seconds_bucket{le=\"+Inf\"} 40\n"));
  EXPECT_THAT(res->body, HasSubstr("edgeway_resident_memory_bytes "));
  EXPECT_THAT(res->body, HasSubstr("edgeway_queue_depth{queue=\"shards\"} "));
  EXPECT_THAT(res->body, HasSubstr("edgeway_queue_depth{queue=\"store\"} "));
}

TEST_F(ApiServerTest, LiveStreamCarriesReadingsAndInsights) {
  std::mutex mu;
  std::string received;
  auto seen = [&](std::string_view what) {
    std::lock_guard lock(mu);
    return received.find(what) != std::string::npos;
  };
  std::thread reader([&] {
    httplib::Client sse(server_->url());
    sse.Get("/api/v1/stream?device=sim-1", [&](const char* data, size_t n) {
      std::lock_guard lock(mu);
      received.append(data, n);
      return received.find("event: insight") == std::string::npos;
    });
  });
  ASSERT_TRUE(testing::WaitUntil([&] { return seen(": stream open"); }, milliseconds(5000)));
  PublishFleet();
  reader.join();
  std::lock_guard lock(mu);
  EXPECT_THAT(received, HasSubstr("event: readings\ndata: {\"readings\":[{\"device\":\"sim-1\""));
  EXPECT_THAT(received, HasSubstr("event: insight\ndata: "));
  EXPECT_EQ(received.find("sim-2"), std::string::npos);  // filtered by device
}

TEST_F(ApiServerTest, TokenIsRequiredWhenSet) {
  server_->Stop();
  live_.store(nullptr);
  StartServer({.listen = "127.0.0.1:0", .token = "s3cret"});
  json denied = Get("/api/v1/devices", 401);
  EXPECT_THAT(denied["error"].get<std::string>(), HasSubstr("bearer token"));
  Get("/metrics", 401);
  client_->set_bearer_token_auth("s3cret");
  Get("/api/v1/devices", 200);
  httplib::Client query(server_->url());
  auto res = query.Get("/api/v1/health/live?access_token=s3cret");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
}

TEST_F(ApiServerTest, RefusesToListenBeyondLoopbackWithoutToken) {
  auto open = ApiServer::Start({.listen = "0.0.0.0:0"}, gateway_.get());
  EXPECT_EQ(open.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(open.status().message()), HasSubstr("http.token"));
  auto bad = ApiServer::Start({.listen = "localhost"}, gateway_.get());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace edgeway::api
