#include "edgeway/security/envelope.h"

#include <limits>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace edgeway::security {
namespace {

using ::testing::HasSubstr;
constexpr int64_t kNow = 1'795'000'000'000'000'000;

TEST(EnvelopeTest, SignedEnvelopeBindsDeviceSequenceTimeAndPayload) {
  for (KeyType type : {KeyType::kEcdsaP256, KeyType::kEd25519}) {
    auto key = PrivateKey::Generate(type);
    ASSERT_TRUE(key.ok());
    std::string bytes = SignEnvelope("dev-1", 42, kNow, R"({"temperature": 21.5})", *key);
    EXPECT_TRUE(LooksLikeEnvelope(bytes));
    auto e = ParseEnvelope(bytes);
    ASSERT_TRUE(e.ok()) << e.status();
    EXPECT_EQ(e->mode, EnvelopeMode::kSigned);
    EXPECT_EQ(e->device_id, "dev-1");
    EXPECT_EQ(e->seq, 42u);
    EXPECT_EQ(e->ts_ns, kNow);
    EXPECT_EQ(e->payload, R"({"temperature": 21.5})");
    PublicKey pub = key->Public();
    EXPECT_TRUE(pub.Verify(std::string(e->header) + std::string(e->payload), e->signature));
    // Flip any byte of the device id, sequence, time or payload: still parses, no longer
    // verifies.
    for (size_t i = 5; i < e->header.size() + e->payload.size(); ++i) {
      std::string tampered = bytes;
      tampered[i] ^= 0x01;
      auto t = ParseEnvelope(tampered);
      if (!t.ok()) continue;  // a length field: refused outright
      EXPECT_FALSE(pub.Verify(std::string(t->header) + std::string(t->payload), t->signature))
          << KeyTypeName(type) << " byte " << i;
    }
  }
}

TEST(EnvelopeTest, SealedEnvelopeOpensOnlyUnchanged) {
  auto cipher = AesGcm::Create(std::string(32, 'k'));
  ASSERT_TRUE(cipher.ok());
  const std::string session = "S3SS10N!", prefix = "pref";
  std::string bytes = SealEnvelope("dev-1", 7, kNow, session, prefix, *cipher, "hello");
  auto e = ParseEnvelope(bytes);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->mode, EnvelopeMode::kSealed);
  EXPECT_EQ(e->session_id, session);
  std::string plain;
  ASSERT_TRUE(cipher->Open(SessionNonce(prefix, e->seq), e->header, e->payload, &plain));
  EXPECT_EQ(plain, "hello");
  EXPECT_EQ(bytes.find("hello"), std::string::npos);  // encrypted, unlike the seed's base64
  for (size_t i = 5; i < bytes.size(); ++i) {
    std::string tampered = bytes;
    tampered[i] ^= 0x01;
    auto t = ParseEnvelope(tampered);
    if (!t.ok()) continue;
    std::string out;
    EXPECT_FALSE(cipher->Open(SessionNonce(prefix, t->seq), t->header, t->payload, &out)) << i;
  }
}

TEST(EnvelopeTest, MalformedInputNamesTheProblem) {
  auto key = PrivateKey::Generate(KeyType::kEd25519);
  std::string good = SignEnvelope("d", 1, kNow, "x", *key);
  auto error = [](std::string_view b) { return std::string(ParseEnvelope(b).status().message()); };
  EXPECT_THAT(error("{}"), HasSubstr("magic"));
  EXPECT_THAT(error(good.substr(0, 10)), HasSubstr("truncated"));
  EXPECT_THAT(error(good + "x"), HasSubstr("after the end"));
  std::string v2 = good;
  v2[2] = 2;
  EXPECT_THAT(error(v2), HasSubstr("version 2"));
  std::string mode = good;
  mode[3] = 9;
  EXPECT_THAT(error(mode), HasSubstr("mode 9"));
  EXPECT_THAT(error(SignEnvelope("d", 0, kNow, "x", *key)), HasSubstr("sequence number 0"));
}

TEST(ReplayWindowTest, AcceptsReorderingOnceRefusesReplaysAndTheTooOld) {
  ReplayWindow w;
  for (uint64_t s : {1, 2, 5, 4, 3}) {
    ASSERT_EQ(w.Check(s), ReplayWindow::Verdict::kNew) << s;
    w.Accept(s);
  }
  EXPECT_EQ(w.Check(4), ReplayWindow::Verdict::kReplay);
  EXPECT_EQ(w.high(), 5u);
  w.Accept(5000);
  EXPECT_EQ(w.Check(5000 - ReplayWindow::kWindow), ReplayWindow::Verdict::kTooOld);
  EXPECT_EQ(w.Check(5000 - ReplayWindow::kWindow + 1), ReplayWindow::Verdict::kNew);
  EXPECT_EQ(w.Check(4999), ReplayWindow::Verdict::kNew);
  EXPECT_EQ(w.Check(5000), ReplayWindow::Verdict::kReplay);
  // A high-water mark kept across a restart: everything at or below it is refused.
  ReplayWindow restarted(5000);
  EXPECT_NE(restarted.Check(4000), ReplayWindow::Verdict::kNew);  // unknown: refused
  EXPECT_NE(restarted.Check(3000), ReplayWindow::Verdict::kNew);
  EXPECT_EQ(restarted.Check(5001), ReplayWindow::Verdict::kNew);
}

TEST(SessionTest, HandshakeGivesBothSidesTheSameKeysAndChecksSignaturesAndTime) {
  auto device = PrivateKey::Generate(KeyType::kEcdsaP256);
  auto gateway = PrivateKey::Generate(KeyType::kEd25519);
  auto init = SessionInitiator::Start("dev-1", *device, kNow);
  ASSERT_TRUE(init.ok()) << init.status();
  auto accepted =
      AcceptSession("dev-1", init->init_message(), device->Public(), *gateway, kNow + 1000, 1e9);
  ASSERT_TRUE(accepted.ok()) << accepted.status();
  PublicKey gateway_pub = gateway->Public();
  auto keys = init->Finish(accepted->accept_message, &gateway_pub);
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_EQ(keys->key, accepted->keys.key);
  EXPECT_EQ(keys->nonce_prefix, accepted->keys.nonce_prefix);
  EXPECT_EQ(keys->session_id, accepted->keys.session_id);
  EXPECT_EQ(keys->key.size(), 32u);

  // Another device's key, a stale clock, another gateway: refused.
  auto other = PrivateKey::Generate(KeyType::kEcdsaP256);
  EXPECT_EQ(AcceptSession("dev-1", init->init_message(), other->Public(), *gateway, kNow, 1e9)
                .status()
                .code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(AcceptSession("dev-1", init->init_message(), device->Public(), *gateway,
                          kNow + 10'000'000'000, 1e9)
                .status()
                .code(),
            absl::StatusCode::kOutOfRange);
  EXPECT_EQ(AcceptSession("dev-2", init->init_message(), device->Public(), *gateway, kNow, 1e9)
                .status()
                .code(),
            absl::StatusCode::kPermissionDenied);
  PublicKey other_pub = other->Public();
  EXPECT_EQ(init->Finish(accepted->accept_message, &other_pub).status().code(),
            absl::StatusCode::kPermissionDenied);
}

TEST(SessionTest, MalformedInitsAreInvalidArguments) {
  auto device = PrivateKey::Generate(KeyType::kEd25519);
  auto gateway = PrivateKey::Generate(KeyType::kEd25519);
  for (std::string_view init : {R"([1])", R"({"v": 2, "ts": 1})", R"({"v": 1e90, "ts": 1})",
                                R"({"v": 1, "ts": 1.5})", R"({"v": 1, "ts": 1, "eph": "zz"})"}) {
    auto r = AcceptSession("dev-1", init, device->Public(), *gateway, kNow, 1e9);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << init;
  }
}

TEST(SessionTest, SkewHoldsForTimestampsAtTheEndsOfInt64) {
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  EXPECT_TRUE(WithinSkew(kNow + 5, kNow, 5));
  EXPECT_TRUE(WithinSkew(kNow - 5, kNow, 5));
  EXPECT_FALSE(WithinSkew(kNow + 6, kNow, 5));
  EXPECT_FALSE(WithinSkew(kNow - 6, kNow, 5));
  EXPECT_FALSE(WithinSkew(kMin, kNow, 300'000'000'000));
  EXPECT_FALSE(WithinSkew(kMax, -kNow, 300'000'000'000));
  EXPECT_FALSE(WithinSkew(kMin, kMax, kMax));  // 2^64 - 1 apart: beyond any int64 skew
  EXPECT_TRUE(WithinSkew(kMin + 1, 0, kMax));  // 2^63 - 1 apart: just within
  // A properly signed init whose clock is at the end of int64 is out of range, not undefined.
  auto device = PrivateKey::Generate(KeyType::kEd25519);
  auto gateway = PrivateKey::Generate(KeyType::kEd25519);
  auto init = SessionInitiator::Start("dev-1", *device, kMin);
  ASSERT_TRUE(init.ok()) << init.status();
  EXPECT_EQ(AcceptSession("dev-1", init->init_message(), device->Public(), *gateway, kNow, 1e9)
                .status()
                .code(),
            absl::StatusCode::kOutOfRange);
}

}  // namespace
}  // namespace edgeway::security
