#ifndef SETTLE_COMMON_SHARD_MAP_H_
#define SETTLE_COMMON_SHARD_MAP_H_

// Routing over coordinator shards (DESIGN.md, "Beyond one machine"). Every client that calls a
// coordinator (SettleClient, the CLI, settle-bench, the participant SDKs in every language)
// routes the same way, so a retry of a key always reaches the shard that knows it:
//   - Execute (and a lookup by idempotency key) goes to shard ShardOfSlot(SlotOfKey(key), N):
//     the slot is FNV-1a (32 bit) of the key's bytes modulo kShardSlots, a number fixed forever,
//     and a slot's shard is Lamping and Veach's jump consistent hash of it, so that adding shard
//     sN moves only the slots it takes (about 1/(N+1) of them) and removing the last shard moves
//     only its own: a StatefulSet grows and shrinks at its highest ordinal;
//   - everything about a transaction id goes to the id's shard: ids are "s<N>-<16 hex>".
// sdk/python/settle/shards.py and sdk/node/src/shards.ts implement the same functions and are
// tested against the same vectors (tests/unit/common/shard_map_test.cc).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace settle {

inline constexpr int kShardSlots = 1024;
inline constexpr int kMaxShards = 256;

// The key's slot, 0 .. kShardSlots-1.
uint32_t SlotOfKey(absl::string_view idempotency_key);
// The shard, 0 .. shard_count-1, of `slot` (jump consistent hash; shard_count >= 1).
int ShardOfSlot(uint32_t slot, int shard_count);
// "s<index>", the id prefix of shard `index`.
std::string ShardName(int index);
// The index of a shard named "s<N>" (no leading zeros), or nullopt for any other name.
std::optional<int> ShardIndex(absl::string_view shard_name);
// --shard's value as a shard name: "s2", "2" and a StatefulSet pod name ending in its ordinal
// ("settle-coordinator-2") all give "s2"; any other valid name (storage/txn_id.h) is kept for
// unsharded deployments. INVALID_ARGUMENT otherwise.
absl::StatusOr<std::string> NormalizeShardName(absl::string_view flag_value);

// The coordinators of one deployment, shard i at endpoints()[i]. Immutable; thread-safe.
class ShardMap final {
 public:
  // `spec`: one endpoint ("host:port": an unsharded coordinator, whatever its shard name), a
  // comma-separated list (shard i is the i-th), or one pattern with a range that expands to the
  // list: "settle-coordinator-{0..3}.settle-coordinator:7070" is the four pods of a
  // StatefulSet behind its headless Service, resolved by DNS like any other name.
  static absl::StatusOr<ShardMap> Parse(absl::string_view spec);

  int size() const { return static_cast<int>(endpoints_.size()); }
  const std::vector<std::string>& endpoints() const { return endpoints_; }
  // The shard that owns `idempotency_key`.
  int ShardOfKey(absl::string_view idempotency_key) const;
  // The shard that owns `txn_id`: with one shard always 0; otherwise the id's "s<N>" prefix,
  // INVALID_ARGUMENT naming txn_id if it is not an id of one of these shards.
  absl::StatusOr<int> ShardOfTxnId(absl::string_view txn_id) const;

 private:
  explicit ShardMap(std::vector<std::string> endpoints) : endpoints_(std::move(endpoints)) {}
  std::vector<std::string> endpoints_;
};

}  // namespace settle

#endif  // SETTLE_COMMON_SHARD_MAP_H_
