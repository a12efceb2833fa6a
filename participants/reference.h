#ifndef SETTLE_PARTICIPANTS_REFERENCE_H_
#define SETTLE_PARTICIPANTS_REFERENCE_H_

// The reference participants: balance, ledger, notification and a card gateway. Each is a
// BranchHandler (its domain logic, run by the SDK), its saga steps, and an admin gRPC service
// for its own data. Balance, ledger and notification run saga steps through
// sdk::ReversibleSaga (a change and its exact inverse); the gateway has its own (charge, then
// an asynchronous refund) and refuses two-phase Prepares.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "client/participant_server.h"
#include "client/reversible_saga.h"
#include "grpcpp/impl/codegen/service_type.h"
#include "storage/branch_store.h"

namespace settle::participants {

// The largest amount one balance posting or journal line may carry, in minor units (2^52, about
// 45 trillion in a two-decimal currency). Far inside int64, so that negating, adding or summing
// up to 64 of them can never overflow.
constexpr int64_t kMaxAmountMinor = int64_t{1} << 52;

struct ReferenceParticipant {
  std::unique_ptr<sdk::BranchHandler> handler;
  std::unique_ptr<grpc::Service> admin;
  std::unique_ptr<sdk::SagaHandler> saga;
};

// Both parts borrow `store`, which must outlive them. Thread-safe as the SDK requires.
ReferenceParticipant MakeBalance(storage::BranchStore& store);
ReferenceParticipant MakeLedger(storage::BranchStore& store);
ReferenceParticipant MakeNotification(storage::BranchStore& store);
ReferenceParticipant MakeGateway(storage::BranchStore& store);

// balance with its accounts in a table of the service's PostgreSQL database (balance_sql.cc),
// created if missing. INVALID_ARGUMENT when `store` is not a PostgreSQL store; UNAVAILABLE when
// the table cannot be created.
absl::StatusOr<ReferenceParticipant> MakeSqlBalance(storage::BranchStore& store);

// INVALID_ARGUMENT for an unknown kind.
absl::StatusOr<ReferenceParticipant> MakeReference(const std::string& kind,
                                                   storage::BranchStore& store);

// Serves one page of a key-prefix scan of the data space: at most `page_size` (1..1000, 0 means
// 1000) values after `page_token`, each handed to `add`. Returns the next page's token ("" at
// the end), or INVALID_ARGUMENT for a bad page size.
absl::StatusOr<std::string> ScanPage(const storage::BranchStore& store, const std::string& prefix,
                                     const std::string& page_token, int page_size,
                                     const std::function<void(const std::string& value)>& add);

// Reads a counter in the data space, adds one, stages the new value and returns it.
absl::StatusOr<uint64_t> NextSequence(storage::WorkView& view, const std::string& key);

}  // namespace settle::participants

#endif  // SETTLE_PARTICIPANTS_REFERENCE_H_
