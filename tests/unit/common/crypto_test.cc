// The crypto module against published test vectors, and the secret-file contract.

#include "common/crypto.h"

#include <fstream>

#include "gtest/gtest.h"
#include "launch/wait.h"

namespace settle::crypto {
namespace {

TEST(CryptoTest, HmacSha256MatchesRfc4231) {
  // RFC 4231, test case 2.
  EXPECT_EQ(HmacSha256Hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(CryptoTest, Sha256MatchesFips180) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(CryptoTest, AesGcmOpensWhatItSealedAndNothingElse) {
  const std::string key(kAes256KeyBytes, 'k');
  const std::string sealed = SealAes256Gcm(key, "pay 100 to bob", "txn-1");
  EXPECT_EQ(sealed.find("pay 100"), std::string::npos);
  EXPECT_EQ(*OpenAes256Gcm(key, sealed, "txn-1"), "pay 100 to bob");
  // Every call seals anew: same plaintext, other bytes.
  EXPECT_NE(SealAes256Gcm(key, "pay 100 to bob", "txn-1"), sealed);
  // Another key, other authenticated data (a record moved to another id), a flipped bit, a
  // cut record: DATA_LOSS, never a wrong plaintext.
  EXPECT_EQ(OpenAes256Gcm(std::string(kAes256KeyBytes, 'x'), sealed, "txn-1").status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(OpenAes256Gcm(key, sealed, "txn-2").status().code(), absl::StatusCode::kDataLoss);
  for (size_t i = 0; i < sealed.size(); i += 7) {
    std::string bad = sealed;
    bad[i] ^= 0x01;
    EXPECT_EQ(OpenAes256Gcm(key, bad, "txn-1").status().code(), absl::StatusCode::kDataLoss) << i;
  }
  EXPECT_EQ(OpenAes256Gcm(key, sealed.substr(0, 20), "txn-1").status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(*OpenAes256Gcm(key, SealAes256Gcm(key, "", ""), ""), "");
}

TEST(CryptoTest, ConstantTimeEqualsComparesWholeStrings) {
  EXPECT_TRUE(ConstantTimeEquals("v1=abc", "v1=abc"));
  EXPECT_FALSE(ConstantTimeEquals("v1=abc", "v1=abd"));
  EXPECT_FALSE(ConstantTimeEquals("v1=abc", "v1=ab"));
}

TEST(CryptoTest, ASecretFileLosesOneTrailingNewlineAndMustNotBeEmpty) {
  launch::TempDir dir;
  std::ofstream(dir.Sub("key")) << "s3cret\n";
  std::ofstream(dir.Sub("empty")) << "\n";
  EXPECT_EQ(*ReadSecretFile(dir.Sub("key")), "s3cret");
  const auto empty = ReadSecretFile(dir.Sub("empty"));
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(empty.status().message().find(dir.Sub("empty")), std::string::npos);
  EXPECT_EQ(ReadSecretFile(dir.Sub("missing")).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace settle::crypto
