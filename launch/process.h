#ifndef SETTLE_LAUNCH_PROCESS_H_
#define SETTLE_LAUNCH_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace settle::launch {

// A child process running one of the project's binaries, its stderr sent to a file. The
// destructor kills it (SIGKILL) if it still runs. Not thread-safe.
class Process final {
 public:
  static absl::StatusOr<std::unique_ptr<Process>> Start(const std::string& binary,
                                                        const std::vector<std::string>& args,
                                                        const std::string& log_path);
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  void Signal(int sig);
  // Waits for the process to end; returns its wait status (the same on every call once it
  // ended), or nullopt after `timeout`.
  std::optional<int> Wait(absl::Duration timeout);
  pid_t pid() const { return pid_; }

 private:
  explicit Process(pid_t pid) : pid_(pid) {}
  pid_t pid_;
  bool reaped_ = false;
  int status_ = 0;  // Its wait status, once reaped_.
};

// A run of a command-line binary to its end: its exit code (-1 if it did not exit by itself in
// time) and all it wrote, stdout and stderr.
struct Ran {
  int exit_code = -1;
  std::string output;
};

// Runs `binary` with `args` until it exits, for at most `timeout` (then it is killed). Its output
// goes to `log_path`, which is truncated first, and is returned.
Ran RunToExit(const std::string& binary, const std::vector<std::string>& args,
              const std::string& log_path, absl::Duration timeout = absl::Seconds(30));

// Reads the first line of `path` as a port once the file exists; 0 after `timeout`, or as soon
// as `writer` (if given, the process that writes it) has exited.
int WaitForPortFile(const std::string& path, absl::Duration timeout, Process* writer = nullptr);

// Where the binaries under test are (set by CMake).
std::string BinaryPath(const std::string& name);

}  // namespace settle::launch

#endif  // SETTLE_LAUNCH_PROCESS_H_
