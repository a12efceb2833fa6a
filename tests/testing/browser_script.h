#ifndef SETTLE_TESTS_TESTING_BROWSER_SCRIPT_H_
#define SETTLE_TESTS_TESTING_BROWSER_SCRIPT_H_

// Runs one of the console's browser tests (tests/console/<script>, puppeteer-core driving
// Debian's headless Chromium) through tests/console/run.sh, for the integration tests, which
// start the stack and check the outcome. Its screenshots go to $SETTLE_SCREENSHOT_DIR, or to
// console-screenshots/ in the working folder.

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "launch/process.h"
#include "launch/wait.h"

namespace settle::testing {

struct BrowserRun {
  int exit_code = -1;  // 0 passed, 77 skipped (no Chromium, npm or registry), -1 timed out.
  std::string output;  // Printed already.
};

// `env`: "NAME=value" for the script. Bounded by `timeout`.
inline BrowserRun RunBrowserScript(const std::string& script, std::vector<std::string> env,
                                   const std::string& log_path,
                                   absl::Duration timeout = absl::Minutes(5)) {
  const char* shots = std::getenv("SETTLE_SCREENSHOT_DIR");
  env.push_back(
      "SETTLE_SCREENSHOT_DIR=" +
      std::filesystem::absolute(shots != nullptr ? shots : "console-screenshots").string());
  env.push_back("sh");
  env.push_back(std::string(SETTLE_SOURCE_DIR) + "/tests/console/run.sh");
  env.push_back(script);
  BrowserRun run;
  auto p = launch::Process::Start("/usr/bin/env", env, log_path);
  if (!p.ok()) {
    run.output = p.status().ToString();
    return run;
  }
  const std::optional<int> status = (*p)->Wait(timeout);
  run.output = launch::ReadFile(log_path);
  std::printf("%s", run.output.c_str());
  if (status.has_value() && WIFEXITED(*status)) run.exit_code = WEXITSTATUS(*status);
  return run;
}

}  // namespace settle::testing

#endif  // SETTLE_TESTS_TESTING_BROWSER_SCRIPT_H_
