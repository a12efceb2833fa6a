#include "common/shard_map.h"

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/echo.h"
#include "storage/txn_id.h"

namespace settle {
namespace {

// Digits only, no sign, no leading zero (so each index has one spelling), below kMaxShards.
std::optional<int> Ordinal(absl::string_view digits) {
  if (digits.empty() || digits.size() > 3 || (digits.size() > 1 && digits[0] == '0')) {
    return std::nullopt;
  }
  for (char c : digits) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return std::nullopt;
  }
  int n = 0;
  if (!absl::SimpleAtoi(digits, &n) || n >= kMaxShards) return std::nullopt;
  return n;
}

}  // namespace

uint32_t SlotOfKey(absl::string_view idempotency_key) {
  uint32_t h = 2166136261u;  // FNV-1a, 32 bit: a few lines in every SDK's language.
  for (unsigned char c : idempotency_key) {
    h ^= c;
    h *= 16777619u;
  }
  return h % kShardSlots;
}

int ShardOfSlot(uint32_t slot, int shard_count) {
  // "A Fast, Minimal Memory, Consistent Hash Algorithm" (Lamping, Veach 2014), on the slot. The
  // arithmetic is the paper's, in doubles, which every SDK's language reproduces bit for bit.
  uint64_t key = slot;
  int64_t b = -1, j = 0;
  while (j < shard_count) {
    b = j;
    key = key * 2862933555777941757ULL + 1;
    j = static_cast<int64_t>(static_cast<double>(b + 1) * (static_cast<double>(1LL << 31) /
                                                           static_cast<double>((key >> 33) + 1)));
  }
  return static_cast<int>(b);
}

std::string ShardName(int index) { return absl::StrCat("s", index); }

std::optional<int> ShardIndex(absl::string_view shard_name) {
  if (!absl::ConsumePrefix(&shard_name, "s")) return std::nullopt;
  return Ordinal(shard_name);
}

absl::StatusOr<std::string> NormalizeShardName(absl::string_view value) {
  if (std::optional<int> n = Ordinal(value); n.has_value()) return ShardName(*n);
  const size_t dash = value.rfind('-');
  if (dash != absl::string_view::npos) {
    if (std::optional<int> n = Ordinal(value.substr(dash + 1)); n.has_value()) {
      return ShardName(*n);
    }
  }
  if (storage::ValidShardName(value)) return std::string(value);
  return absl::InvalidArgumentError(absl::StrCat(
      "shard ", Echo(value),
      " must be s<N>, N, a pod name ending in -<N> (N below 256), or 1 to 16 lower-case "
      "letters and digits"));
}

absl::StatusOr<ShardMap> ShardMap::Parse(absl::string_view spec) {
  std::vector<std::string> endpoints;
  const size_t open = spec.find('{');
  if (open != absl::string_view::npos) {
    const size_t close = spec.find('}', open);
    std::vector<absl::string_view> range =
        close == absl::string_view::npos
            ? std::vector<absl::string_view>{}
            : absl::StrSplit(spec.substr(open + 1, close - open - 1), "..");
    std::optional<int> first = range.size() == 2 ? Ordinal(range[0]) : std::nullopt;
    std::optional<int> last = range.size() == 2 ? Ordinal(range[1]) : std::nullopt;
    if (!first.has_value() || !last.has_value() || *first != 0 || *last < *first ||
        spec.find('{', close) != absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("coordinator endpoints ", Echo(spec),
                       ": a pattern takes one range {0..N-1} (N up to 256)"));
    }
    for (int i = 0; i <= *last; ++i) {
      endpoints.push_back(absl::StrCat(spec.substr(0, open), i, spec.substr(close + 1)));
    }
  } else {
    for (absl::string_view e : absl::StrSplit(spec, ',')) {
      endpoints.emplace_back(absl::StripAsciiWhitespace(e));
    }
  }
  for (const std::string& e : endpoints) {
    if (e.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("coordinator endpoints ", Echo(spec), ": an endpoint is empty"));
    }
  }
  if (static_cast<int>(endpoints.size()) > kMaxShards) {
    return absl::InvalidArgumentError(
        absl::StrCat("coordinator endpoints ", Echo(spec), ": more than ", kMaxShards, " shards"));
  }
  return ShardMap(std::move(endpoints));
}

int ShardMap::ShardOfKey(absl::string_view idempotency_key) const {
  return ShardOfSlot(SlotOfKey(idempotency_key), size());
}

absl::StatusOr<int> ShardMap::ShardOfTxnId(absl::string_view txn_id) const {
  if (endpoints_.size() == 1) return 0;
  std::optional<storage::TxnIdParts> parts = storage::ParseTxnId(txn_id);
  std::optional<int> index = parts.has_value() ? ShardIndex(parts->shard) : std::nullopt;
  if (!index.has_value() || *index >= size()) {
    return absl::InvalidArgumentError(absl::StrCat("txn_id ", Echo(txn_id),
                                                   " is not an id of shards s0..s", size() - 1,
                                                   " (<shard>-<16 hex digits>)"));
  }
  return *index;
}

}  // namespace settle
