#ifndef SETTLE_STORAGE_STORE_FLAGS_H_
#define SETTLE_STORAGE_STORE_FLAGS_H_

// The test-only store flags every binary with a store takes (settle-coordinator,
// settle-participant, settle-notifier): --test_write_fault_trigger, --test_power_cut_journal.

#include "storage/store_options.h"

namespace settle::storage {

// StoreOptions from those flags (all off unless a test sets them).
StoreOptions StoreOptionsFromFlags();

}  // namespace settle::storage

#endif  // SETTLE_STORAGE_STORE_FLAGS_H_
