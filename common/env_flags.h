#ifndef SETTLE_COMMON_ENV_FLAGS_H_
#define SETTLE_COMMON_ENV_FLAGS_H_

#include <string>
#include <vector>

namespace settle {

// Parses the command line after applying environment overrides: for every defined flag `foo`,
// an environment variable `SETTLE_FOO` sets its value; a flag given on the command line wins.
// Exits with a message naming the variable if a value does not parse. Returns the positional
// arguments (argv[0] first), as absl::ParseCommandLine does.
std::vector<char*> ParseFlagsWithEnv(int argc, char** argv, const std::string& usage);

}  // namespace settle

#endif  // SETTLE_COMMON_ENV_FLAGS_H_
