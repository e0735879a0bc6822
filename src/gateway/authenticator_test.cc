#include "edgeway/gateway/authenticator.h"

#include <limits>

#include "edgeway/security/envelope.h"
#include "edgeway/store/store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/temp_dir.h"

namespace edgeway::gateway {
namespace {

using security::KeyType;
using security::PrivateKey;
using ::testing::HasSubstr;

constexpr int64_t kNow = 1'795'000'000LL * 1'000'000'000;

class AuthenticatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    key_ = *PrivateKey::Generate(KeyType::kEd25519);
    auto store = store::Store::Open({.path = dir_.File("a.db")});
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)
                    ->ProvisionDevice({.device_id = "dev-1",
                                       .key_type = "ed25519",
                                       .public_key = key_.Public().ToPem(),
                                       .topics = {"devices/dev-1/#"}})
                    .ok());
  }
  std::unique_ptr<Authenticator> Open(SecurityMode require) {
    auto auth = Authenticator::Open({.require = require,
                                     .max_skew_ns = 60LL * kNsPerSecond,
                                     .store_path = dir_.File("a.db"),
                                     .clock = &clock_});
    EXPECT_TRUE(auth.ok()) << auth.status();
    return std::move(*auth);
  }
  AuthResult Send(Authenticator& auth, uint64_t seq, int64_t ts = kNow,
                  const std::string& topic = "devices/dev-1/telemetry") {
    message_ = security::SignEnvelope("dev-1", seq, ts, R"({"t": 1})", key_);
    return auth.Check(topic, message_, &scratch_);
  }

  testing::TempDir dir_;
  ManualClock clock_{kNow};
  PrivateKey key_ = *PrivateKey::Generate(KeyType::kEd25519);
  std::string message_, scratch_;
};

TEST_F(AuthenticatorTest, ReorderingWithinTheWindowPassesReplaysAndSkewDoNot) {
  auto auth = Open(SecurityMode::kSigned);
  for (uint64_t seq : {1, 2, 4, 3}) {
    AuthResult r = Send(*auth, seq);
    ASSERT_TRUE(r.ok) << seq << ": " << r.detail;
    EXPECT_EQ(r.payload, R"({"t": 1})");
  }
  EXPECT_EQ(Send(*auth, 3).reason, RejectReason::kReplay);
  EXPECT_EQ(Send(*auth, 5, kNow - 61 * kNsPerSecond).reason, RejectReason::kStaleTimestamp);
  EXPECT_EQ(Send(*auth, 5, kNow + 61 * kNsPerSecond).reason, RejectReason::kStaleTimestamp);
  // Timestamps at the ends of int64: stale, not an overflow (the sanitizers of the ci preset
  // would stop here).
  for (int64_t ts : {std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()}) {
    AuthResult r = Send(*auth, 5, ts);
    EXPECT_EQ(r.reason, RejectReason::kStaleTimestamp) << ts;
    EXPECT_THAT(r.detail, HasSubstr(" s off")) << ts;
  }
  EXPECT_TRUE(Send(*auth, 5, kNow + 59 * kNsPerSecond).ok);
  EXPECT_EQ(auth->authenticated(), 5u);
}

TEST_F(AuthenticatorTest, RulesOfTheRegistryAndOfTheRequiredMode) {
  auto auth = Open(SecurityMode::kSealed);
  EXPECT_EQ(Send(*auth, 1).reason, RejectReason::kUnauthenticated);  // signed, sealed required
  EXPECT_EQ(auth->Check("sensors/x", R"({"device_id": "a", "t": 1})", &scratch_).reason,
            RejectReason::kUnauthenticated);
  auto any = Open(SecurityMode::kAuthenticated);
  EXPECT_EQ(Send(*any, 1, kNow, "sensors/temperature").reason, RejectReason::kTopicNotAllowed);
  EXPECT_EQ(Send(*any, 2, kNow, "devices/dev-2/telemetry").reason, RejectReason::kDeviceMismatch);
  auto other = *PrivateKey::Generate(KeyType::kEd25519);
  std::string forged = security::SignEnvelope("dev-1", 3, kNow, "{}", other);
  EXPECT_EQ(any->Check("devices/dev-1/telemetry", forged, &scratch_).reason,
            RejectReason::kBadSignature);
  std::string stranger = security::SignEnvelope("dev-9", 3, kNow, "{}", other);
  EXPECT_EQ(any->Check("devices/dev-9/telemetry", stranger, &scratch_).reason,
            RejectReason::kUnknownDevice);
  EXPECT_EQ(any->Check("devices/dev-1/telemetry", "EW\x01garbage", &scratch_).reason,
            RejectReason::kBadEnvelope);
  auto none = Open(SecurityMode::kNone);
  EXPECT_TRUE(none->Check("sensors/x", R"({"t": 1})", &scratch_).ok);  // plain is fine
}

TEST_F(AuthenticatorTest, HighWaterMarkSurvivesARestart) {
  {
    auto auth = Open(SecurityMode::kSigned);
    ASSERT_TRUE(Send(*auth, 100).ok);
    auth->Flush();
  }
  auto auth = Open(SecurityMode::kSigned);
  EXPECT_EQ(Send(*auth, 100).reason, RejectReason::kReplay);
  EXPECT_EQ(Send(*auth, 99).reason, RejectReason::kReplay);
  EXPECT_TRUE(Send(*auth, 101).ok);
}

TEST_F(AuthenticatorTest, SealedMessagesNeedTheSessionTheHandshakeMade) {
  auto auth = Open(SecurityMode::kSealed);
  auto init = security::SessionInitiator::Start("dev-1", key_, kNow);
  ASSERT_TRUE(init.ok());
  auto accept = auth->OnSessionInit("dev-1", init->init_message());
  ASSERT_TRUE(accept.ok()) << accept.status();
  auto keys = init->Finish(*accept, nullptr);
  ASSERT_TRUE(keys.ok()) << keys.status();
  auto cipher = security::AesGcm::Create(keys->key);
  std::string sealed = security::SealEnvelope("dev-1", 1, kNow, keys->session_id,
                                              keys->nonce_prefix, *cipher, "hello");
  AuthResult r = auth->Check("devices/dev-1/telemetry", sealed, &scratch_);
  ASSERT_TRUE(r.ok) << r.detail;
  EXPECT_EQ(r.payload, "hello");
  std::string unknown =
      security::SealEnvelope("dev-1", 2, kNow, "NOSESSN!", keys->nonce_prefix, *cipher, "hello");
  r = auth->Check("devices/dev-1/telemetry", unknown, &scratch_);
  EXPECT_EQ(r.reason, RejectReason::kBadTag);
  EXPECT_EQ(r.reset_device, "dev-1");  // the device is told to shake hands again
  // The session outlives a gateway restart.
  auto restarted = Open(SecurityMode::kSealed);
  std::string next = security::SealEnvelope("dev-1", 3, kNow, keys->session_id, keys->nonce_prefix,
                                            *cipher, "again");
  r = restarted->Check("devices/dev-1/telemetry", next, &scratch_);
  EXPECT_TRUE(r.ok) << r.detail;
  EXPECT_THAT(std::string(auth->OnSessionInit("dev-9", init->init_message()).status().message()),
              HasSubstr("unknown device"));
}

}  // namespace
}  // namespace edgeway::gateway
