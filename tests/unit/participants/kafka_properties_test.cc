// The Kafka config file's format: key=value lines, comments and blanks skipped, anything else
// refused by line number (never echoing the line: it may hold a password).

#include "gtest/gtest.h"
#include "participants/outbox_flags.h"

namespace settle::participants {
namespace {

TEST(KafkaPropertiesTest, ReadsKeyValueLinesAndSkipsCommentsAndBlanks) {
  auto p = ParseKafkaProperties(
      "# a real cluster\n\nsecurity.protocol = SASL_SSL\nsasl.password=a=b\n  \n");
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_EQ(p->size(), 2u);
  EXPECT_EQ((*p)[0], std::make_pair(std::string("security.protocol"), std::string("SASL_SSL")));
  EXPECT_EQ((*p)[1], std::make_pair(std::string("sasl.password"), std::string("a=b")));
}

TEST(KafkaPropertiesTest, RefusesALineThatIsNotKeyValueWithoutEchoingIt) {
  for (const char* text : {"acks=all\nsecret-without-key\n", "acks=all\n=secret\n"}) {
    auto p = ParseKafkaProperties(text);
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_NE(p.status().message().find("line 2"), std::string::npos) << p.status();
    EXPECT_EQ(p.status().message().find("secret"), std::string::npos) << p.status();
  }
}

}  // namespace
}  // namespace settle::participants
