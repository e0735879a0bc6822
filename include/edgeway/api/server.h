#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "edgeway/gateway/gateway.h"
#include "edgeway/store/store.h"
#include "edgeway/telemetry/reading.h"

namespace edgeway::api {

struct ApiOptions {
  // host:port to listen on; port 0 picks a free one. Loopback by default: the API is open to
  // anyone who can reach it unless `token` is set.
  std::string listen = "127.0.0.1:8080";
  // When set, every request needs `Authorization: Bearer TOKEN` (or `access_token=TOKEN` in
  // the query, for the browser's EventSource). Required when listening beyond loopback.
  std::string token;
  // A device counts as online when it sent something within this many seconds.
  int64_t online_window_s = 60;
};

// The HTTP side of a gateway: JSON API under /api/v1, a Server-Sent Events stream of readings
// and insights, Prometheus metrics at /metrics, and the dashboard at /. Thread-safe.
//
//   GET /api/v1/health/live           200 while the process serves
//   GET /api/v1/health/ready          200 when subscribed to the broker, else 503
//   GET /api/v1/summary               the run counters (as edgeway run --summary-json)
//   GET /api/v1/pipelines             ingest topics and analytics parameters
//   GET /api/v1/devices               devices in id order: status, last seen, readings,
//                                     anomalies; ?match (part of the id)&status&offset&limit.
//                                     Readings and anomalies: those the store holds
//   GET /api/v1/devices/{id}          one device with its sensors' latest values
//   GET /api/v1/readings              ?device&sensor&from&to (ns)&limit (<= 10000)&latest
//   GET /api/v1/insights              ?device&kind (anomaly|trend)&from&to&limit&latest
//   GET /api/v1/anomalies             insights of kind anomaly, same parameters
//   GET /api/v1/windows               event-time window results: ?window&device&sensor&from&to
//                                     (on the window start, ns)&limit&latest
//   GET /api/v1/windows/late          late readings (the windows' side output), same parameters
//   GET /api/v1/twins                 device twins in id order; ?match&offset&limit
//   GET /api/v1/twins/{id}            one twin: version, state (reported, desired, delta),
//                                     metadata (update times), maintenance forecasts
//   PATCH /api/v1/twins/{id}          {"desired": {...}, "version": N}: merge patch; 409 when
//                                     the twin is no longer at version N
//   GET /api/v1/stream                SSE: `readings` (batches), `insight` and `window` events;
//                                     ?device
//   GET /metrics                      Prometheus text format
// Errors are JSON {"error": "..."} with 400, 401, 404, 409 or 503.
class ApiServer {
 public:
  // Binds and starts serving. `gateway` must outlive the server. Errors: InvalidArgument for a
  // bad listen address or a non-loopback address without a token; Unavailable when the port is
  // taken.
  static absl::StatusOr<std::unique_ptr<ApiServer>> Start(ApiOptions options,
                                                          const gateway::Gateway* gateway);
  ~ApiServer();

  // Feeds the device directory, the latency histogram and the live stream with what the store
  // just committed. Call from the store's commit observer.
  void Publish(const ResultBatch& committed);
  // Takes what a retention step deleted off the device directory. Call from the store's expiry
  // observer.
  void Expire(const store::Expired& expired);

  // Adds what the store held before to the device directory, in the background: the devices of
  // a large store are listed as they report until its summary is read (0.6 s for 3,000,000
  // readings of 30,000 keys). Call once Publish gets every commit: the store is read as of a
  // point between two commits, and the commits after it come through Publish, so each reading
  // is counted once.
  void SeedDirectory();

  // http://host:port
  std::string url() const;
  // Stops serving and ends live streams. Idempotent.
  void Stop();

 private:
  struct Impl;
  explicit ApiServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace edgeway::api
