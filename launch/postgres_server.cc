#include "launch/postgres_server.h"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "launch/http_get.h"
#include "launch/process.h"
#include "launch/wait.h"

namespace settle::launch {
namespace {

constexpr char kPassword[] = "settle-test-password";

// Debian installs each major version under its own folder; take the newest.
std::string FindBin() {
  std::string best;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/usr/lib/postgresql", ec)) {
    const std::string bin = e.path().string() + "/bin";
    if (std::filesystem::exists(bin + "/initdb") && bin > best) best = bin;
  }
  return best;
}

}  // namespace

PostgresServer::PostgresServer(std::string bin, std::string dir, int port)
    : bin_(std::move(bin)), dir_(std::move(dir)), port_(port) {}

absl::Status PostgresServer::Run(const std::string& tool, const std::string& args) const {
  // As root, through runuser: initdb, pg_ctl and postgres refuse to run as root.
  const std::string as = geteuid() == 0 ? "runuser -u postgres -- " : "";
  const std::string cmd =
      absl::StrCat(as, bin_, "/", tool, " ", args, " >>", dir_, "/tools.log 2>&1 </dev/null");
  const int rc = std::system(cmd.c_str());
  if (rc != 0) {
    return absl::UnavailableError(
        absl::StrCat(tool, " failed (status ", rc, "); see ", dir_, "/tools.log"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<PostgresServer>> PostgresServer::Start() {
  const std::string bin = FindBin();
  if (bin.empty()) {
    return absl::UnavailableError(
        "no /usr/lib/postgresql/*/bin/initdb: PostgreSQL is not installed (apt-get install "
        "postgresql)");
  }
  // Not under the test's own temp dir: that one is root's alone, and the server runs as postgres.
  std::string tmpl = (std::filesystem::temp_directory_path() / "settle-pg-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) return absl::UnavailableError("mkdtemp failed");
  const std::string dir = tmpl;
  std::filesystem::permissions(dir, std::filesystem::perms::owner_all |
                                        std::filesystem::perms::group_exec |
                                        std::filesystem::perms::others_exec);
  std::ofstream(dir + "/pwfile") << kPassword << "\n";
  if (geteuid() == 0) {
    const std::string chown = absl::StrCat("chown -R postgres:postgres ", dir);
    if (std::system(chown.c_str()) != 0) {
      return absl::UnavailableError("cannot give the data folder to the postgres user");
    }
  }
  std::unique_ptr<PostgresServer> server(new PostgresServer(bin, dir, FreeListenPort()));
  // scram over TCP (a wrong password is refused, as in production); --no-sync: initdb's own
  // files only, the server itself syncs its WAL as always.
  if (absl::Status s =
          server->Run("initdb", absl::StrCat("-D ", dir, "/data -U postgres --pwfile=", dir,
                                             "/pwfile --auth-host=scram-sha-256 --auth-local=trust "
                                             "--no-sync --encoding=UTF8 --locale=C"));
      !s.ok()) {
    return s;
  }
  if (absl::Status s = server->Launch(); !s.ok()) return s;
  return server;
}

absl::Status PostgresServer::Launch() {
  // The postmaster is this process's child (through runuser as root), not pg_ctl's daemon: once
  // killed it is reaped here, where a daemon's zombie would keep its pid alive and a new
  // postmaster would refuse to start beside it.
  std::vector<std::string> args = {
      bin_ + "/postgres",   "-D", dir_ + "/data", "-c", "listen_addresses=127.0.0.1", "-p",
      absl::StrCat(port_),  "-k", dir_,           "-c", "max_connections=200",        "-c",
      "shared_buffers=32MB"};
  std::string binary = args[0];
  if (geteuid() == 0) {
    args.insert(args.begin(), {"-u", "postgres", "--"});
    binary = "/usr/sbin/runuser";
  } else {
    args.erase(args.begin());
  }
  auto p = Process::Start(binary, args, dir_ + "/server.log");
  if (!p.ok()) return p.status();
  process_ = std::move(*p);
  const std::string ready =
      absl::StrCat(bin_, "/pg_isready -q -h ", dir_, " -p ", port_, " >/dev/null 2>&1");
  if (!WaitFor([&] { return std::system(ready.c_str()) == 0; }, absl::Seconds(60))) {
    return absl::UnavailableError(
        absl::StrCat("the PostgreSQL server did not accept connections within a minute; see ", dir_,
                     "/server.log"));
  }
  return absl::OkStatus();
}

absl::Status PostgresServer::CreateDatabase(const std::string& name) {
  return Query("postgres", "CREATE DATABASE " + name).status();
}

absl::StatusOr<std::string> PostgresServer::Query(const std::string& database,
                                                  const std::string& sql) const {
  // Through the socket folder, where the superuser is trusted; the SQL through a file, so that
  // no quoting can break it.
  const std::string file = absl::StrCat(dir_, "/query-", getpid(), ".sql");
  std::ofstream(file) << sql << "\n";
  const std::string cmd =
      absl::StrCat(bin_, "/psql -X -q -tA -v ON_ERROR_STOP=1 -h ", dir_, " -p ", port_,
                   " -U postgres -d ", database, " -f ", file, " 2>>", dir_, "/tools.log");
  FILE* out = popen(cmd.c_str(), "r");
  if (out == nullptr) return absl::InternalError("cannot run psql");
  std::string text;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof(buf), out)) > 0;) text.append(buf, n);
  const int rc = pclose(out);
  std::filesystem::remove(file);
  if (rc != 0) {
    return absl::InternalError(absl::StrCat("psql failed on: ", sql, "; see ", dir_, "/tools.log"));
  }
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

std::string PostgresServer::Dsn(const std::string& database) const {
  return DsnWithPassword(database, kPassword);
}

std::string PostgresServer::DsnWithPassword(const std::string& database,
                                            const std::string& password) const {
  return absl::StrCat("postgresql://postgres:", password, "@127.0.0.1:", port_, "/", database,
                      "?connect_timeout=5");
}

absl::Status PostgresServer::Stop(bool immediate) {
  absl::Status s = Run("pg_ctl", absl::StrCat("-D ", dir_, "/data -w -t 60 -m ",
                                              immediate ? "immediate" : "fast", " stop"));
  if (s.ok() && process_ != nullptr && !process_->Wait(absl::Seconds(60)).has_value()) {
    return absl::DeadlineExceededError("the postmaster did not exit within a minute");
  }
  return s;
}

absl::Status PostgresServer::Kill() {
  int pid = 0;
  std::ifstream(dir_ + "/data/postmaster.pid") >> pid;
  if (pid <= 0) return absl::NotFoundError("the server wrote no postmaster.pid");
  kill(pid, SIGKILL);
  if (process_ != nullptr) process_->Wait(absl::Seconds(30));
  // Gone once its backends are too (they exit when they notice the postmaster died): a new
  // postmaster refuses shared memory that old backends still hold. Each runs in the data folder.
  const std::filesystem::path data = dir_ + "/data";
  const bool gone = WaitFor(
      [&] {
        std::error_code ec;
        for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
          std::error_code link_ec;
          if (std::filesystem::read_symlink(e.path() / "cwd", link_ec) == data) return false;
        }
        return true;
      },
      absl::Seconds(30));
  return gone ? absl::OkStatus()
              : absl::DeadlineExceededError("the server's processes did not end");
}

absl::Status PostgresServer::Restart() { return Launch(); }

PostgresServer::~PostgresServer() {
  if (process_ != nullptr && !process_->Wait(absl::ZeroDuration()).has_value()) {
    Stop(/*immediate=*/true).IgnoreError();
  }
  process_.reset();
  if (std::getenv("SETTLE_KEEP_TEST_DIR") != nullptr) return;
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

}  // namespace settle::launch
