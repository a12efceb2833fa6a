#ifndef SETTLE_SERVER_ENGINE_PREVIOUS_OWNERS_H_
#define SETTLE_SERVER_ENGINE_PREVIOUS_OWNERS_H_

// While the number of shards changes (README, "Changing the number of shards"), a key this
// shard owns under the new count may have run at the shard that owned it under the old one. A
// shard asks that one through this seam before it admits such a key, so that no key runs twice:
// the gRPC implementation is server/service/previous_owners.h; the engine's tests use a fake.

#include "server/engine/transaction.h"

namespace settle::engine {

struct ExecuteParams;  // coordinator.h

class PreviousOwners {
 public:
  virtual ~PreviousOwners() = default;

  // Sends `params` (its only_if_known set) to shard `index`, which answers the key's outcome if
  // it knows the key, NOT_FOUND if it does not and will not admit it, and any other error as
  // it comes (UNAVAILABLE while it still runs with the old count or cannot be reached). `done`
  // runs exactly once, on any thread. Thread-safe.
  virtual void ExecuteIfKnown(int index, const ExecuteParams& params, ExecuteDone done) = 0;
};

}  // namespace settle::engine

#endif  // SETTLE_SERVER_ENGINE_PREVIOUS_OWNERS_H_
