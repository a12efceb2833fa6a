// The crypto module against published test vectors, and the secret-file contract.

#include "common/crypto.h"

#include <fstream>

#include "gtest/gtest.h"
#include "tests/testing/wait.h"

namespace settle::crypto {
namespace {

TEST(CryptoTest, HmacSha256MatchesRfc4231) {
  // RFC 4231, test case 2.
  EXPECT_EQ(HmacSha256Hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(CryptoTest, ConstantTimeEqualsComparesWholeStrings) {
  EXPECT_TRUE(ConstantTimeEquals("v1=abc", "v1=abc"));
  EXPECT_FALSE(ConstantTimeEquals("v1=abc", "v1=abd"));
  EXPECT_FALSE(ConstantTimeEquals("v1=abc", "v1=ab"));
}

TEST(CryptoTest, ASecretFileLosesOneTrailingNewlineAndMustNotBeEmpty) {
  testing::TempDir dir;
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
