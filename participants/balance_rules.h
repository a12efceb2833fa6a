#ifndef SETTLE_PARTICIPANTS_BALANCE_RULES_H_
#define SETTLE_PARTICIPANTS_BALANCE_RULES_H_

// The balance participant's rules, the same whichever store keeps the accounts (balance.cc on
// RocksDB, balance_sql.cc on PostgreSQL).

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "settle/v1/reference.pb.h"

namespace settle::participants {

// Empty when every posting of `p` is in range; otherwise why not, naming the posting.
std::string CheckPostings(const v1::BalancePayload& p);
// INVALID_ARGUMENT naming the field unless the account name and the initial amount are valid.
absl::Status CheckOpenAccount(const v1::OpenAccountRequest& request);
// A saga's compensation: every posting turned round (a credit becomes the debit that takes it
// back, and may be refused if the money was spent since).
absl::StatusOr<std::string> ReverseBalance(const std::string& payload);

}  // namespace settle::participants

#endif  // SETTLE_PARTICIPANTS_BALANCE_RULES_H_
