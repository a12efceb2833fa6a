#ifndef SETTLE_LAUNCH_WAIT_H_
#define SETTLE_LAUNCH_WAIT_H_

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace settle::launch {

// Polls `condition` until it holds or `timeout` passes; returns whether it held. The short
// pause between polls is not a wait for the condition: the deadline is.
template <typename Cond>
bool WaitFor(Cond condition, absl::Duration timeout = absl::Seconds(20)) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!condition()) {
    if (absl::Now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

// A fresh, empty folder under the system's temp dir, removed at destruction.
class TempDir final {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "settle-test-XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  // Kept when SETTLE_KEEP_TEST_DIR is set, to read the processes' logs after a failure.
  ~TempDir() {
    if (std::getenv("SETTLE_KEEP_TEST_DIR") != nullptr) return;
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// The whole of file `path` ("" if it cannot be read).
inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// How many files under `dir` (recursively) hold `needle` anywhere in their bytes.
inline int FilesHolding(const std::string& dir, const std::string& needle) {
  int n = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    std::ifstream in(e.path(), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    n += bytes.find(needle) != std::string::npos;
  }
  return n;
}

}  // namespace settle::launch

#endif  // SETTLE_LAUNCH_WAIT_H_
