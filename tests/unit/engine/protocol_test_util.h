#ifndef SETTLE_TESTS_UNIT_ENGINE_PROTOCOL_TEST_UTIL_H_
#define SETTLE_TESTS_UNIT_ENGINE_PROTOCOL_TEST_UTIL_H_

// What the tests of one protocol alone (events in, actions out) share: a record to start from,
// participants' answers, and what an event sent.

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "server/engine/protocol.h"

namespace settle::engine::protocol_test {

inline const absl::Time kT0 = absl::FromUnixSeconds(1'800'000'000);

// A new transaction of `mode` with one branch per entry of `steps` (its saga step), participants
// "p0", "p1"..., each with a payload and PENDING.
inline storage::TxnRecord NewRecord(storage::ModeRecord mode, const std::vector<uint32_t>& steps) {
  storage::TxnRecord rec;
  rec.set_txn_id("s0-0000000000000001");
  rec.set_idempotency_key("k1");
  rec.set_mode(mode);
  rec.set_state(storage::TXN_PREPARING);
  rec.set_refused_branch(-1);
  rec.set_begin_micros(absl::ToUnixMicros(kT0));
  for (size_t i = 0; i < steps.size(); ++i) {
    auto* b = rec.add_branches();
    b->set_participant("p" + std::to_string(i));
    b->set_payload("payload");
    b->set_state(storage::BRANCH_PENDING);
    b->set_step(steps[i]);
  }
  return rec;
}
// `branches` branches, all in step 0 (the parallel modes).
inline storage::TxnRecord NewRecord(storage::ModeRecord mode, int branches) {
  return NewRecord(mode, std::vector<uint32_t>(static_cast<size_t>(branches), 0));
}

// Answers: OK (a YES, an acknowledgement, a step done), a refusal (a NO), no answer at all.
inline Answer Ok() { return {}; }
inline Answer No(const std::string& reason) { return {absl::OkStatus(), false, reason}; }
inline Answer Unreachable() {
  return Answer::NoAnswer(absl::UnavailableError("connection refused"));
}

// The branches an event sent `phase` to, in order.
inline std::vector<uint32_t> Sent(const Actions& a, Phase phase) {
  std::vector<uint32_t> out;
  for (const SendAction& s : a.sends) {
    if (s.phase == phase) out.push_back(s.branch);
  }
  return out;
}

// A record that would have made COMMIT possible failed: the callers hear UNAVAILABLE and an
// ABORT is forced after it.
inline void ExpectCallersToldAndAbortForced(const Actions& a) {
  ASSERT_TRUE(a.fail_callers.has_value());
  EXPECT_EQ(a.fail_callers->code(), absl::StatusCode::kUnavailable);
  ASSERT_TRUE(a.write.has_value());
  EXPECT_TRUE(a.write->forced);
  EXPECT_EQ(a.write->record.state(), storage::TXN_ABORTING);
}

}  // namespace settle::engine::protocol_test

#endif  // SETTLE_TESTS_UNIT_ENGINE_PROTOCOL_TEST_UTIL_H_
