#ifndef SETTLE_LAUNCH_POSTGRES_SERVER_H_
#define SETTLE_LAUNCH_POSTGRES_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "launch/process.h"

namespace settle::launch {

// A real PostgreSQL server (Debian's postgresql package) started by a test on loopback with its
// own port and data folder (initdb, pg_ctl), run as the `postgres` user when the test runs as
// root (initdb and postgres refuse root). Password authentication over TCP, so a wrong password
// is refused as in production. Stop it fast or immediate, kill -9 its postmaster, start it again
// on the same data. The data folder is removed at destruction. Not thread-safe.
class PostgresServer final {
 public:
  // UNAVAILABLE (with the reason) when PostgreSQL is not installed or does not start within a
  // minute: the caller skips loudly.
  static absl::StatusOr<std::unique_ptr<PostgresServer>> Start();
  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  int port() const { return port_; }
  // A new, empty database; its name must be a plain identifier.
  absl::Status CreateDatabase(const std::string& name);
  // Runs `sql` in `database` with psql as the superuser; its rows, unaligned ("a|b" lines).
  absl::StatusOr<std::string> Query(const std::string& database, const std::string& sql) const;
  // The libpq URI of `database` as the superuser, or with another password.
  std::string Dsn(const std::string& database) const;
  std::string DsnWithPassword(const std::string& database, const std::string& password) const;
  // pg_ctl stop -m fast (rolls back open transactions, checkpoints) or immediate (no checkpoint:
  // recovery from the WAL at the next start).
  absl::Status Stop(bool immediate);
  // kill -9 of the postmaster (its backends end when they see it gone).
  absl::Status Kill();
  // Starts it again on the same data and port; returns once it accepts connections.
  absl::Status Restart();

 private:
  PostgresServer(std::string bin, std::string dir, int port);
  absl::Status Run(const std::string& tool, const std::string& args) const;
  absl::Status Launch();

  const std::string bin_, dir_;
  const int port_;
  std::unique_ptr<Process> process_;  // The postmaster (or runuser, its parent), while it runs.
};

}  // namespace settle::launch

// In a GoogleTest SetUp: starts a server into `server` (a unique_ptr<PostgresServer>), or skips
// the test loudly, with the reason, when none can start on this machine.
#define SETTLE_START_POSTGRES_OR_SKIP(server)                                   \
  do {                                                                          \
    auto started = ::settle::launch::PostgresServer::Start();                  \
    if (!started.ok()) {                                                        \
      GTEST_SKIP() << "SKIPPED LOUDLY: no PostgreSQL server could start here: " \
                   << started.status();                                         \
    }                                                                           \
    server = std::move(*started);                                               \
  } while (0)

#endif  // SETTLE_LAUNCH_POSTGRES_SERVER_H_
