// libFuzzer: the coordinator's edge. The first byte picks one of its request messages; the rest
// is that message as a client sent it, through the checks each method runs before the engine
// (ExecuteRequest -> ExecuteParams, ListTransactionsRequest -> ListParams, durations and
// timestamps, names and endpoints of the registry, audit page tokens, shard lists and names),
// and through the access check of the roles and tokens files, which are hostile input too.
// Every input must end in a status, never a crash.

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/access.h"
#include "common/shard_map.h"
#include "server/engine/audit_trail.h"
#include "server/service/api_convert.h"
#include "server/service/participant_channels.h"
#include "tests/testing/manual_time.h"
#include "tests/testing/memory_log.h"

namespace {

template <typename Msg>
bool Parse(const std::string& bytes, Msg* msg) {
  return msg->ParseFromString(bytes);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace settle;
  if (size < 1) return 0;
  const std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 8) {
    case 0: {
      v1::ExecuteRequest req;
      if (Parse(rest, &req)) (void)ToExecuteParams(req);
      break;
    }
    case 1: {
      v1::ListTransactionsRequest req;
      if (Parse(rest, &req)) (void)ToListParams(req);
      break;
    }
    case 2: {
      v1::RegisterParticipantRequest req;
      if (Parse(rest, &req)) {
        (void)engine::Registry::ValidateName(req.name());
        (void)ParticipantChannels::ValidateEndpoint(req.endpoint());
      }
      break;
    }
    case 3: {
      google::protobuf::Duration d;
      google::protobuf::Timestamp t;
      if (Parse(rest, &d)) (void)FromProtoDuration(d, "timeout");
      if (Parse(rest, &t)) (void)FromProtoTime(t, "time");
      break;
    }
    case 4: {
      // A roles file and a tokens file, split at the first NUL, then one call checked.
      const size_t cut = rest.find('\0');
      auto policy = AccessPolicy::Parse(rest.substr(0, cut),
                                        cut == std::string::npos ? "" : rest.substr(cut + 1));
      if (policy.ok()) {
        (void)policy->Decide("/settle.v1.Coordinator/Execute", "Bearer " + rest, {rest});
      }
      break;
    }
    case 5: {
      // An audit page token, as ListOperatorCommands gets it.
      testing::MemoryLog log;
      testing::ManualClock clock;
      engine::AuditTrail audit(log, clock);
      std::string next;
      (void)audit.List(rest, 10, /*newest_first=*/!rest.empty() && (rest.back() & 1), &next);
      break;
    }
    case 6: {
      // A shard list, a --shard value, and a key and an id routed over what parsed.
      (void)NormalizeShardName(rest);
      auto shards = ShardMap::Parse(rest);
      if (shards.ok()) {
        (void)shards->ShardOfKey(rest);
        (void)shards->ShardOfTxnId(rest);
      }
      break;
    }
    default: {
      v1::GetTransactionRequest get;
      v1::AbortTransactionRequest abort;
      v1::ResolveTransactionRequest resolve;
      if (Parse(rest, &get)) (void)RequireField(get.txn_id(), "txn_id");
      if (Parse(rest, &abort)) (void)RequireField(abort.txn_id(), "txn_id");
      if (Parse(rest, &resolve)) (void)RequireField(resolve.operator_(), "operator");
      break;
    }
  }
  return 0;
}
