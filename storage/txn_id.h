#ifndef SETTLE_STORAGE_TXN_ID_H_
#define SETTLE_STORAGE_TXN_ID_H_

// The transaction id format, "<shard>-<16 hex digits>", shared by everything that writes or
// reads ids: the coordinator issues them, the participant SDK sweeps its barrier records by
// them, settle-bench writes grown logs with them. The counter is the begin time in Unix
// microseconds (or just past the previous id), and the width is fixed, so within a shard the
// key order of ids is begin order.

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"

namespace settle::storage {

// A shard name is 1 to 16 lower-case letters and digits: no '-', so one shard's ids never sort
// among another's (the barrier sweep skips a shard's recent ids by key range).
inline bool ValidShardName(absl::string_view shard) {
  if (shard.empty() || shard.size() > 16) return false;
  for (char c : shard) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
  }
  return true;
}

inline std::string TxnIdFor(absl::string_view shard, uint64_t counter) {
  return absl::StrFormat("%s-%016x", shard, counter);
}

// The id's shard and counter; nullopt if `id` is not in this format.
struct TxnIdParts {
  absl::string_view shard;
  uint64_t counter = 0;
};
inline std::optional<TxnIdParts> ParseTxnId(absl::string_view id) {
  const size_t dash = id.rfind('-');
  if (dash == absl::string_view::npos || id.size() - dash - 1 != 16) return std::nullopt;
  TxnIdParts parts;
  parts.shard = id.substr(0, dash);
  if (!absl::SimpleHexAtoi(id.substr(dash + 1), &parts.counter)) return std::nullopt;
  return parts;
}

}  // namespace settle::storage

#endif  // SETTLE_STORAGE_TXN_ID_H_
