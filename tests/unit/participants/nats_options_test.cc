// The --nats_* flags' checks: a stream or subject JetStream would refuse, or a de-duplication
// window too short to drop a relay's own republishing, is refused naming the flag.

#include "gtest/gtest.h"
#include "participants/outbox_flags.h"

namespace settle::participants {
namespace {

messaging::NatsOptions Valid() {
  messaging::NatsOptions nats;
  nats.url = "nats://127.0.0.1:4222";
  return nats;
}

TEST(NatsOptionsTest, TheDefaultsPass) { EXPECT_TRUE(CheckNatsOptions(Valid()).ok()); }

TEST(NatsOptionsTest, EachBadSettingIsRefusedNamingItsFlag) {
  struct Case {
    const char* flag;
    void (*spoil)(messaging::NatsOptions&);
  };
  const Case cases[] = {
      {"--nats_stream", [](messaging::NatsOptions& o) { o.stream = ""; }},
      {"--nats_stream", [](messaging::NatsOptions& o) { o.stream = "payment.results"; }},
      {"--nats_stream", [](messaging::NatsOptions& o) { o.stream = "A>"; }},
      {"--nats_stream", [](messaging::NatsOptions& o) { o.stream = std::string(256, 'S'); }},
      {"--nats_subject", [](messaging::NatsOptions& o) { o.subject = ""; }},
      {"--nats_subject", [](messaging::NatsOptions& o) { o.subject = "settle.*"; }},
      {"--nats_subject", [](messaging::NatsOptions& o) { o.subject = "settle..results"; }},
      {"--nats_subject", [](messaging::NatsOptions& o) { o.subject = "settle results"; }},
      {"--nats_duplicate_window",
       [](messaging::NatsOptions& o) { o.duplicate_window = absl::Milliseconds(200); }},
      {"--nats_replicas", [](messaging::NatsOptions& o) { o.replicas = 0; }},
      {"--nats_replicas", [](messaging::NatsOptions& o) { o.replicas = 6; }},
  };
  for (const Case& c : cases) {
    messaging::NatsOptions nats = Valid();
    c.spoil(nats);
    const absl::Status s = CheckNatsOptions(nats);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.flag;
    EXPECT_NE(s.message().find(c.flag), std::string::npos) << s;
  }
}

}  // namespace
}  // namespace settle::participants
