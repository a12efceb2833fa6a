#ifndef SETTLE_SERVER_ENGINE_COORDINATOR_INTERNAL_H_
#define SETTLE_SERVER_ENGINE_COORDINATOR_INTERNAL_H_

// Internal to the Coordinator's implementation files, and to settle-bench, which writes logs
// in this format to measure a grown one.

#include <cstdint>
#include <string>

#include "absl/strings/str_format.h"
#include "storage/records.pb.h"

namespace settle::engine::internal {

// "<shard>-<16 hex digits>": fixed width, so the log's key order is numeric order.
inline std::string TxnIdFor(const std::string& shard, uint64_t counter) {
  return absl::StrFormat("%s-%016x", shard, counter);
}

inline std::string StateName(storage::TxnStateRecord s) {
  switch (s) {
    case storage::TXN_PREPARING: return "preparing";
    case storage::TXN_COMMITTING: return "committing";
    case storage::TXN_ABORTING: return "aborting";
    case storage::TXN_COMMITTED: return "committed";
    case storage::TXN_ABORTED: return "aborted";
    default: return "unknown";
  }
}

}  // namespace settle::engine::internal

#endif  // SETTLE_SERVER_ENGINE_COORDINATOR_INTERNAL_H_
