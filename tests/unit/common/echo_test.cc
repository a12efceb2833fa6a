#include "common/echo.h"

#include <string>

#include "gtest/gtest.h"

namespace settle {
namespace {

TEST(EchoTest, QuotesAShortValueWhole) { EXPECT_EQ(Echo("s0-42"), "'s0-42'"); }

TEST(EchoTest, EscapesControlBytesQuotesAndNonAscii) {
  EXPECT_EQ(Echo("a\nb'\x01\xc3\xa9"), "'a\\nb\\'\\x01\\xc3\\xa9'");
}

TEST(EchoTest, CutsALongValueAndGivesItsLength) {
  const std::string echo = Echo(std::string(1 << 20, 'x'), 8);
  EXPECT_EQ(echo, "'xxxxxxxx...' (1048576 bytes)");
}

TEST(EchoTest, EscapedBytesKeepTheEchoBounded) {
  // Every byte escaped takes four characters: the echo stays bounded all the same.
  EXPECT_LE(Echo(std::string(100000, '\x01')).size(), 4u * 64 + 32);
}

}  // namespace
}  // namespace settle
