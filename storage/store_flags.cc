#include "storage/store_flags.h"

#include <string>

#include "absl/flags/flag.h"

ABSL_FLAG(std::string, test_write_fault_trigger, "",
          "TEST ONLY: while a file exists at this path, every write of the store fails as on a "
          "full disk");
ABSL_FLAG(std::string, test_power_cut_journal, "",
          "TEST ONLY: journal to this file what of the store reached stable storage, so that a "
          "harness can roll it back as a power cut would");

namespace settle::storage {

StoreOptions StoreOptionsFromFlags() {
  StoreOptions options;
  options.write_fault_trigger_ForTest = absl::GetFlag(FLAGS_test_write_fault_trigger);
  options.power_cut_journal_ForTest = absl::GetFlag(FLAGS_test_power_cut_journal);
  return options;
}

}  // namespace settle::storage
