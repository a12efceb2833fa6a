#ifndef SETTLE_STORAGE_STORE_OPTIONS_H_
#define SETTLE_STORAGE_STORE_OPTIONS_H_

#include <string>

namespace settle::storage {

// How a store (the coordinator's TxnLog, a participant's BranchStore) opens its database.
struct StoreOptions {
  // TEST ONLY, off when empty: while a file exists at this path every write of the store fails
  // as on a full disk (fault tests create and remove it from outside).
  std::string write_fault_trigger_ForTest;
  // TEST ONLY, off when empty: journal what reached stable storage here, so that a harness can
  // roll the store back to it as a power cut would (storage/power_cut_fs.h).
  std::string power_cut_journal_ForTest;
};

}  // namespace settle::storage

#endif  // SETTLE_STORAGE_STORE_OPTIONS_H_
