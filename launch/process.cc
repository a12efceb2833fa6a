#include "launch/process.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "absl/strings/str_cat.h"
#include "launch/wait.h"

namespace settle::launch {

absl::StatusOr<std::unique_ptr<Process>> Process::Start(const std::string& binary,
                                                        const std::vector<std::string>& args,
                                                        const std::string& log_path) {
  std::vector<std::string> argv_storage = {binary};
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    const int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, STDERR_FILENO);
      dup2(fd, STDOUT_FILENO);
    }
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
  return std::unique_ptr<Process>(new Process(pid));
}

Process::~Process() {
  if (!reaped_) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

void Process::Signal(int sig) {
  if (!reaped_) kill(pid_, sig);
}

std::optional<int> Process::Wait(absl::Duration timeout) {
  if (reaped_) return status_;
  int status = 0;
  const bool ended = WaitFor(
      [&] {
        const pid_t r = waitpid(pid_, &status, WNOHANG);
        // ECHILD: already reaped, so it is gone whatever the status was.
        return r == pid_ || (r < 0 && errno == ECHILD);
      },
      timeout);
  if (!ended) return std::nullopt;
  reaped_ = true;
  status_ = status;
  return status;
}

Ran RunToExit(const std::string& binary, const std::vector<std::string>& args,
              const std::string& log_path, absl::Duration timeout) {
  std::filesystem::remove(log_path);  // Start appends.
  Ran ran;
  auto p = Process::Start(binary, args, log_path);
  if (!p.ok()) {
    ran.output = p.status().ToString();
    return ran;
  }
  const std::optional<int> status = (*p)->Wait(timeout);
  if (status.has_value() && WIFEXITED(*status)) ran.exit_code = WEXITSTATUS(*status);
  std::ifstream in(log_path);
  ran.output.assign(std::istreambuf_iterator<char>(in), {});
  return ran;
}

int WaitForPortFile(const std::string& path, absl::Duration timeout, Process* writer) {
  int port = 0;
  WaitFor(
      [&] {
        std::ifstream in(path);
        if (in && (in >> port) && port > 0) return true;
        port = 0;
        return writer != nullptr && writer->Wait(absl::ZeroDuration()).has_value();
      },
      timeout);
  return port;
}

std::string BinaryPath(const std::string& name) { return absl::StrCat(SETTLE_BIN_DIR, "/", name); }

}  // namespace settle::launch
