#include "common/env_flags.h"

#include <cstdio>
#include <cstdlib>

#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace settle {

std::vector<char*> ParseFlagsWithEnv(int argc, char** argv, const std::string& usage) {
  absl::SetProgramUsageMessage(usage);
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    const std::string var = absl::StrCat("SETTLE_", absl::AsciiStrToUpper(name));
    const char* value = std::getenv(var.c_str());
    if (value == nullptr) continue;
    std::string error;
    if (!flag->ParseFrom(value, &error)) {
      std::fprintf(stderr, "invalid value '%s' in environment variable %s: %s\n", value,
                   var.c_str(), error.c_str());
      std::exit(2);
    }
  }
  // Command-line values are parsed after, so they override the environment.
  return absl::ParseCommandLine(argc, argv);
}

}  // namespace settle
