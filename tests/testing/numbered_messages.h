#ifndef SETTLE_TESTS_TESTING_NUMBERED_MESSAGES_H_
#define SETTLE_TESTS_TESTING_NUMBERED_MESSAGES_H_

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "messaging/publisher.h"

namespace settle::testing {

// What the publisher tests send: `n` messages of `per_txn` each, numbered from `first`, with ids
// "<txn>/<k>", keyed by their txn, and a body naming their number.
inline std::vector<messaging::OutboundMessage> NumberedMessages(int first, int n, int per_txn) {
  std::vector<messaging::OutboundMessage> out;
  for (int i = first; i < first + n; ++i) {
    const std::string txn = absl::StrCat("s0-", 1000 + i / per_txn);
    messaging::OutboundMessage m;
    m.message_id = absl::StrCat(txn, "/", i % per_txn);
    m.key = txn;
    m.body = absl::StrCat("{\"n\":", i, "}");
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace settle::testing

#endif  // SETTLE_TESTS_TESTING_NUMBERED_MESSAGES_H_
