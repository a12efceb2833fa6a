#ifndef SETTLE_TESTS_TESTING_BLACKHOLE_H_
#define SETTLE_TESTS_TESTING_BLACKHOLE_H_

// A participant that never answers: a loopback socket that listens and never accepts. The
// kernel completes TCP handshakes into its backlog, so calls connect and then wait for their
// deadline. Closing it resets them. Not thread-safe.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"

namespace settle::testing {

class Blackhole final {
 public:
  Blackhole() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        listen(fd_, 64) != 0 || getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      Close();
      return;
    }
    port_ = ntohs(addr.sin_port);
  }
  ~Blackhole() { Close(); }
  Blackhole(const Blackhole&) = delete;
  Blackhole& operator=(const Blackhole&) = delete;

  bool ok() const { return port_ != 0; }
  std::string endpoint() const { return absl::StrCat("127.0.0.1:", port_); }
  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
  int port_ = 0;
};

}  // namespace settle::testing

#endif  // SETTLE_TESTS_TESTING_BLACKHOLE_H_
