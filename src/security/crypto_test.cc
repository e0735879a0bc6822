// Our OpenSSL wrappers against published test vectors.
#include "edgeway/security/crypto.h"

#include "gtest/gtest.h"

namespace edgeway::security {
namespace {

TEST(Ed25519Test, Rfc8032Section7_1Tests1And2) {
  struct Vector {
    const char* seed;
    const char* pub;
    const char* message;
    const char* signature;
  };
  const Vector vectors[] = {
      {"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
       "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
       "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701"
       "cf9b46bd25bf5f0595bbe24655141438e7a100b"},
      {"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
       "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
       "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d"
       "0f11d8c387b2eaeb4302aeeb00d291612bb0c00"},
  };
  for (const Vector& v : vectors) {
    auto key = PrivateKey::FromEd25519Seed(Unhex(v.seed));
    ASSERT_TRUE(key.ok()) << key.status();
    auto sig = key->Sign(Unhex(v.message));
    ASSERT_TRUE(sig.ok());
    EXPECT_EQ(Hex(*sig), v.signature);
    PublicKey pub = key->Public();
    EXPECT_TRUE(pub.Verify(Unhex(v.message), *sig));
    std::string bad = *sig;
    bad[10] ^= 1;
    EXPECT_FALSE(pub.Verify(Unhex(v.message), bad));
    // The public key in the PEM is the RFC's: the raw key is the last 32 bytes of the DER.
    auto again = PublicKey::FromPem(pub.ToPem());
    ASSERT_TRUE(again.ok());
    EXPECT_TRUE(again->Verify(Unhex(v.message), *sig));
    EXPECT_NE(pub.ToPem().find("BEGIN PUBLIC KEY"), std::string::npos);
    EXPECT_EQ(Hex(pub.Raw()), v.pub);
  }
}

TEST(X25519Test, Rfc7748Section5_2AndTheSection6_1Exchange) {
  auto a = X25519::FromPrivate(
      Unhex("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4"));
  ASSERT_TRUE(a.ok());
  auto out = a->Agree(Unhex("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c"));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(Hex(*out), "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552");

  auto alice = X25519::FromPrivate(
      Unhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"));
  auto bob = X25519::FromPrivate(
      Unhex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"));
  EXPECT_EQ(Hex(alice->public_key()),
            "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
  EXPECT_EQ(Hex(bob->public_key()),
            "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
  EXPECT_EQ(Hex(*alice->Agree(bob->public_key())),
            "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
  EXPECT_EQ(*alice->Agree(bob->public_key()), *bob->Agree(alice->public_key()));
  EXPECT_FALSE(alice->Agree(std::string(32, '\0')).ok());  // a low-order point
}

TEST(HkdfTest, Rfc5869TestCase1) {
  auto okm = HkdfSha256(std::string(22, '\x0b'), Unhex("000102030405060708090a0b0c"),
                        Unhex("f0f1f2f3f4f5f6f7f8f9"), 42);
  ASSERT_TRUE(okm.ok()) << okm.status();
  EXPECT_EQ(Hex(*okm),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
}

TEST(AesGcmTest, GcmSpecTestCases14And16) {
  // Test case 14: the zero key, a zero block.
  auto zero = AesGcm::Create(std::string(32, '\0'));
  ASSERT_TRUE(zero.ok());
  std::string out;
  ASSERT_TRUE(zero->Seal(std::string(12, '\0'), "", std::string(16, '\0'), &out));
  EXPECT_EQ(Hex(out), "cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919");
  // Test case 16: 256-bit key, with associated data.
  auto gcm =
      AesGcm::Create(Unhex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308"));
  ASSERT_TRUE(gcm.ok());
  const std::string iv = Unhex("cafebabefacedbaddecaf888");
  const std::string aad = Unhex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
  const std::string plain = Unhex(
      "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e24"
      "49a6b525b16aedf5aa0de657ba637b39");
  out.clear();
  ASSERT_TRUE(gcm->Seal(iv, aad, plain, &out));
  EXPECT_EQ(Hex(out),
            "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b"
            "1056828838c5f61e6393ba7a0abcc9f662"
            "76fc6ece0f4e1768cddf8853bb2d551b");
  std::string back;
  ASSERT_TRUE(gcm->Open(iv, aad, out, &back));
  EXPECT_EQ(back, plain);
  // Any flipped bit, in the ciphertext, the tag or the associated data, fails.
  for (size_t i : {size_t{0}, out.size() - 1}) {
    std::string tampered = out;
    tampered[i] ^= 1;
    std::string none;
    EXPECT_FALSE(gcm->Open(iv, aad, tampered, &none));
    EXPECT_TRUE(none.empty());
  }
  std::string none;
  EXPECT_FALSE(gcm->Open(iv, aad + "x", out, &none));
}

TEST(EncodingTest, Base64AndHexRoundTrip) {
  EXPECT_EQ(Base64("hello"), "aGVsbG8=");
  EXPECT_EQ(*Unbase64("aGVsbG8="), "hello");
  EXPECT_EQ(*Unbase64(Base64(std::string("\0\xff\x10", 3))), std::string("\0\xff\x10", 3));
  EXPECT_FALSE(Unbase64("a*==").has_value());
  EXPECT_EQ(Unhex(Hex("\x01\xab")), "\x01\xab");
  EXPECT_EQ(Unhex("zz"), "");
}

TEST(EcdsaTest, SignVerifyAndPemRoundTrip) {
  auto key = PrivateKey::Generate(KeyType::kEcdsaP256);
  ASSERT_TRUE(key.ok());
  auto sig = key->Sign("hello");
  ASSERT_TRUE(sig.ok());
  EXPECT_EQ((*sig)[0], 0x30);  // DER SEQUENCE, as Python's cryptography makes
  auto reloaded = PrivateKey::FromPem(key->ToPem(), "device.key");
  ASSERT_TRUE(reloaded.ok());
  EXPECT_EQ(reloaded->type(), KeyType::kEcdsaP256);
  auto pub = PublicKey::FromPem(reloaded->Public().ToPem());
  ASSERT_TRUE(pub.ok());
  EXPECT_TRUE(pub->Verify("hello", *sig));
  EXPECT_FALSE(pub->Verify("hellO", *sig));
  EXPECT_EQ(pub->Fingerprint().size(), 64u);
  EXPECT_EQ(pub->Raw().size(), 65u);
  EXPECT_EQ(pub->Raw()[0], 4);
  EXPECT_FALSE(PrivateKey::FromPem("junk", "device.key").ok());
  EXPECT_NE(
      std::string(PrivateKey::FromPem("junk", "device.key").status().message()).find("device.key"),
      std::string::npos);
}

}  // namespace
}  // namespace edgeway::security
