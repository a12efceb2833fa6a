#ifndef SETTLE_SERVER_SERVICE_PREVIOUS_OWNERS_H_
#define SETTLE_SERVER_SERVICE_PREVIOUS_OWNERS_H_

// The engine's PreviousOwners over gRPC: a shard asks another shard, at the address the shard
// list (--peers, common/shard_map.h) gives it, with ExecuteRequest.only_if_known set. Used only
// while the number of shards changes (--previous_shards).

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/credentials.h"
#include "server/engine/coordinator.h"
#include "settle/v1/coordinator.grpc.pb.h"

namespace settle {

// Thread-safe. The channels are made at construction and kept.
class GrpcPreviousOwners final : public engine::PreviousOwners {
 public:
  // INVALID_ARGUMENT for a shard list that does not parse or names fewer than `needed` shards.
  static absl::StatusOr<std::unique_ptr<GrpcPreviousOwners>> Connect(const std::string& peers,
                                                                     int needed,
                                                                     const TlsOptions& tls);
  // Waits for the calls in flight (each bounded by its deadline).
  ~GrpcPreviousOwners() override;

  void ExecuteIfKnown(int index, const engine::ExecuteParams& params,
                      engine::ExecuteDone done) override;

  // Returns once no call is in flight: before the engine whose callbacks they run stops.
  void WaitForCalls();

 private:
  explicit GrpcPreviousOwners(std::vector<std::unique_ptr<v1::Coordinator::Stub>> stubs,
                              std::vector<std::string> endpoints)
      : stubs_(std::move(stubs)), endpoints_(std::move(endpoints)) {}

  const std::vector<std::unique_ptr<v1::Coordinator::Stub>> stubs_;
  const std::vector<std::string> endpoints_;
  absl::Mutex mu_;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace settle

#endif  // SETTLE_SERVER_SERVICE_PREVIOUS_OWNERS_H_
