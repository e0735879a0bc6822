// What the gateway spends per authenticated message: parse the envelope, check the replay
// window, and verify the signature (mode 1) or decrypt under the session (mode 2). 100-byte
// payloads, one thread. scripts/bench runs `openssl speed` and the seed's Python in the same
// run and prints the ratios.
#include "benchmark/benchmark.h"
#include "edgeway/security/envelope.h"

namespace edgeway::security {
namespace {

constexpr int64_t kTs = 1'795'000'000'000'000'000;
const std::string kPayload(100, 'x');

void BM_SealedOpen(benchmark::State& state) {
  auto sender = AesGcm::Create(std::string(32, 'k'));
  auto receiver = AesGcm::Create(std::string(32, 'k'));
  constexpr size_t kMessages = 4096;
  std::vector<std::string> messages;
  for (uint64_t seq = 1; seq <= kMessages; ++seq) {
    messages.push_back(
        SealEnvelope("device-0001", seq, kTs, "S3SS10N!", "pref", *sender, kPayload));
  }
  std::string plain;
  ReplayWindow window;
  uint64_t base = 0;
  for (auto _ : state) {
    for (const std::string& m : messages) {
      auto e = ParseEnvelope(m);
      const uint64_t seq = e->seq + base;  // a fresh number each round, as a live device sends
      if (window.Check(seq) != ReplayWindow::Verdict::kNew) state.SkipWithError("replay");
      plain.clear();
      if (!receiver->Open(SessionNonce("pref", e->seq), e->header, e->payload, &plain)) {
        state.SkipWithError("tag");
      }
      window.Accept(seq);
    }
    base += kMessages;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kMessages));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kMessages * kPayload.size()));
}
BENCHMARK(BM_SealedOpen);

void BM_SealedSeal(benchmark::State& state) {
  auto sender = AesGcm::Create(std::string(32, 'k'));
  uint64_t seq = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        SealEnvelope("device-0001", ++seq, kTs, "S3SS10N!", "pref", *sender, kPayload));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SealedSeal);

void Verify(benchmark::State& state, KeyType type) {
  auto key = PrivateKey::Generate(type);
  PublicKey pub = key->Public();
  std::string m = SignEnvelope("device-0001", 1, kTs, kPayload, *key);
  for (auto _ : state) {
    auto e = ParseEnvelope(m);
    if (!pub.Verify(m.substr(0, e->header.size() + e->payload.size()), e->signature)) {
      state.SkipWithError("signature");
    }
  }
  state.SetItemsProcessed(state.iterations());
}
void BM_SignedVerifyEcdsaP256(benchmark::State& state) { Verify(state, KeyType::kEcdsaP256); }
void BM_SignedVerifyEd25519(benchmark::State& state) { Verify(state, KeyType::kEd25519); }
BENCHMARK(BM_SignedVerifyEcdsaP256);
BENCHMARK(BM_SignedVerifyEd25519);

void Sign(benchmark::State& state, KeyType type) {
  auto key = PrivateKey::Generate(type);
  uint64_t seq = 0;
  for (auto _ : state)
    benchmark::DoNotOptimize(SignEnvelope("device-0001", ++seq, kTs, kPayload, *key));
  state.SetItemsProcessed(state.iterations());
}
void BM_SignEcdsaP256(benchmark::State& state) { Sign(state, KeyType::kEcdsaP256); }
void BM_SignEd25519(benchmark::State& state) { Sign(state, KeyType::kEd25519); }
BENCHMARK(BM_SignEcdsaP256);
BENCHMARK(BM_SignEd25519);

}  // namespace
}  // namespace edgeway::security

BENCHMARK_MAIN();
