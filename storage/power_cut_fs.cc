#include "storage/power_cut_fs.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"

namespace settle::storage {
namespace {

namespace fs = std::filesystem;
using rocksdb::DirFsyncOptions;
using rocksdb::FileOptions;
using rocksdb::FSDirectory;
using rocksdb::FSWritableFile;
using rocksdb::IODebugContext;
using rocksdb::IOOptions;
using rocksdb::IOStatus;
using rocksdb::Slice;

std::string Normal(const std::string& path) {
  std::string p = fs::absolute(path).lexically_normal().string();
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

std::string ParentOf(const std::string& path) { return fs::path(path).parent_path().string(); }

// The journal of one store, and its crash point. Thread-safe.
class Journal final {
 public:
  explicit Journal(std::string path)
      : path_(std::move(path)),
        fd_(open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644)) {}
  ~Journal() {
    if (fd_ >= 0) close(fd_);
  }

  // One write(2) per line, so a kill -9 leaves each line whole or absent.
  void Append(const std::string& line) {
    const std::string text = line + "\n";
    if (fd_ < 0 || write(fd_, text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
      // A journal that misses a sync would make the roll-back drop synced data: stop here.
      std::abort();
    }
  }

  // Before a sync (of a file or a directory): its number since the crash point was armed (0 if
  // it is not), and the kill if the point is just before this sync.
  int BeforeSync() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    if (!armed_) Arm();
    if (!armed_) return 0;
    const int n = ++syncs_;
    if (n == cut_at_ && !cut_after_) raise(SIGKILL);
    return n;
  }
  void AfterSync(int n) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    if (armed_ && n == cut_at_ && cut_after_) raise(SIGKILL);
  }

  std::string SavedPath() {
    return absl::StrCat(path_, ".saved.", getpid(), ".", saved_.fetch_add(1));
  }

 private:
  void Arm() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::ifstream in(path_ + ".cut");
    std::string when;
    if (in >> cut_at_ >> when && cut_at_ > 0 && (when == "before" || when == "after")) {
      cut_after_ = when == "after";
      armed_ = true;
    }
  }

  const std::string path_;
  const int fd_;
  std::atomic<int> saved_{0};
  absl::Mutex mu_;
  bool armed_ ABSL_GUARDED_BY(mu_) = false;
  int cut_at_ ABSL_GUARDED_BY(mu_) = 0;
  bool cut_after_ ABSL_GUARDED_BY(mu_) = false;
  int syncs_ ABSL_GUARDED_BY(mu_) = 0;
};

class JournaledFile final : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  JournaledFile(std::unique_ptr<FSWritableFile> file, std::string path, uint64_t size,
                std::shared_ptr<Journal> journal)
      : FSWritableFileOwnerWrapper(std::move(file)),
        path_(std::move(path)),
        size_(size),
        journal_(std::move(journal)) {}

  IOStatus Append(const Slice& d, const IOOptions& o, IODebugContext* g) override {
    return Grown(target()->Append(d, o, g), size_.load() + d.size());
  }
  IOStatus Append(const Slice& d, const IOOptions& o, const rocksdb::DataVerificationInfo& v,
                  IODebugContext* g) override {
    return Grown(target()->Append(d, o, v, g), size_.load() + d.size());
  }
  IOStatus PositionedAppend(const Slice& d, uint64_t off, const IOOptions& o,
                            IODebugContext* g) override {
    return Grown(target()->PositionedAppend(d, off, o, g), std::max(size_.load(), off + d.size()));
  }
  IOStatus PositionedAppend(const Slice& d, uint64_t off, const IOOptions& o,
                            const rocksdb::DataVerificationInfo& v, IODebugContext* g) override {
    return Grown(target()->PositionedAppend(d, off, o, v, g),
                 std::max(size_.load(), off + d.size()));
  }
  IOStatus Truncate(uint64_t size, const IOOptions& o, IODebugContext* g) override {
    return Grown(target()->Truncate(size, o, g), size);
  }
  IOStatus Sync(const IOOptions& o, IODebugContext* g) override {
    return Synced([&] { return target()->Sync(o, g); });
  }
  IOStatus Fsync(const IOOptions& o, IODebugContext* g) override {
    return Synced([&] { return target()->Fsync(o, g); });
  }

 private:
  IOStatus Grown(IOStatus s, uint64_t size) {
    if (s.ok()) size_.store(size);
    return s;
  }
  // Only what was written before the sync began counts as synced.
  template <typename F>
  IOStatus Synced(F sync) {
    const uint64_t size = size_.load();
    const int n = journal_->BeforeSync();
    IOStatus s = sync();
    if (s.ok()) journal_->Append(absl::StrCat("S\t", size, "\t", path_));
    journal_->AfterSync(n);
    return s;
  }

  const std::string path_;
  std::atomic<uint64_t> size_;
  const std::shared_ptr<Journal> journal_;
};

class JournaledDirectory final : public rocksdb::FSDirectoryWrapper {
 public:
  JournaledDirectory(std::unique_ptr<FSDirectory> dir, std::string path,
                     std::shared_ptr<Journal> journal)
      : FSDirectoryWrapper(std::move(dir)), path_(std::move(path)), journal_(std::move(journal)) {}

  IOStatus Fsync(const IOOptions& o, IODebugContext* g) override {
    return Journaled([&] { return FSDirectoryWrapper::Fsync(o, g); });
  }
  IOStatus FsyncWithDirOptions(const IOOptions& o, IODebugContext* g,
                               const DirFsyncOptions& d) override {
    return Journaled([&] { return FSDirectoryWrapper::FsyncWithDirOptions(o, g, d); });
  }

 private:
  template <typename F>
  IOStatus Journaled(F sync) {
    const int n = journal_->BeforeSync();
    IOStatus s = sync();
    if (s.ok()) journal_->Append("D\t" + path_);
    journal_->AfterSync(n);
    return s;
  }
  const std::string path_;
  const std::shared_ptr<Journal> journal_;
};

class PowerCutFileSystem final : public rocksdb::FileSystemWrapper {
 public:
  PowerCutFileSystem(std::shared_ptr<rocksdb::FileSystem> base, const std::string& journal)
      : FileSystemWrapper(std::move(base)), journal_(std::make_shared<Journal>(journal)) {}
  const char* Name() const override { return "SettlePowerCutFileSystem"; }

  IOStatus NewWritableFile(const std::string& f, const FileOptions& o,
                           std::unique_ptr<FSWritableFile>* r, IODebugContext* g) override {
    // Journaled first: a file that exists is always one the roll-back knows of.
    journal_->Append("C\t" + Normal(f));
    return Wrap(target()->NewWritableFile(f, o, r, g), f, 0, r);
  }
  IOStatus ReopenWritableFile(const std::string& f, const FileOptions& o,
                              std::unique_ptr<FSWritableFile>* r, IODebugContext* g) override {
    uint64_t size = 0;
    if (!target()->GetFileSize(f, IOOptions(), &size, g).ok()) {
      journal_->Append("C\t" + Normal(f));
    }
    return Wrap(target()->ReopenWritableFile(f, o, r, g), f, size, r);
  }
  IOStatus ReuseWritableFile(const std::string& f, const std::string& old, const FileOptions& o,
                             std::unique_ptr<FSWritableFile>* r, IODebugContext* g) override {
    journal_->Append("C\t" + Normal(f));
    IOStatus s = Wrap(target()->ReuseWritableFile(f, old, o, r, g), f, 0, r);
    if (s.ok()) journal_->Append("X\t" + Normal(old));
    return s;
  }
  IOStatus NewDirectory(const std::string& d, const IOOptions& o, std::unique_ptr<FSDirectory>* r,
                        IODebugContext* g) override {
    IOStatus s = target()->NewDirectory(d, o, r, g);
    if (s.ok()) *r = std::make_unique<JournaledDirectory>(std::move(*r), Normal(d), journal_);
    return s;
  }
  IOStatus RenameFile(const std::string& src, const std::string& dst, const IOOptions& o,
                      IODebugContext* g) override {
    // The target's old bytes are kept, so an unsynced rename can be undone.
    std::string saved = "-";
    std::error_code ec;
    if (fs::exists(dst, ec)) {
      saved = journal_->SavedPath();
      fs::copy_file(dst, saved, fs::copy_options::overwrite_existing, ec);
      if (ec) return IOStatus::IOError("cannot keep the rename target's old bytes", ec.message());
    }
    journal_->Append(absl::StrCat("R\t", Normal(src), "\t", Normal(dst), "\t", saved));
    return target()->RenameFile(src, dst, o, g);
  }
  IOStatus DeleteFile(const std::string& f, const IOOptions& o, IODebugContext* g) override {
    IOStatus s = target()->DeleteFile(f, o, g);
    if (s.ok()) journal_->Append("X\t" + Normal(f));
    return s;
  }

 private:
  IOStatus Wrap(IOStatus s, const std::string& f, uint64_t size,
                std::unique_ptr<FSWritableFile>* r) const {
    if (s.ok()) *r = std::make_unique<JournaledFile>(std::move(*r), Normal(f), size, journal_);
    return s;
  }
  const std::shared_ptr<Journal> journal_;
};

// A file as the journal left it.
struct FileState {
  bool entry_durable = true;           // False: created or renamed since its dir was synced.
  std::optional<uint64_t> synced;      // Unset: nothing known, the file stays as it is.
  std::optional<std::string> restore;  // An undone rename puts these saved bytes back ("-": none).
};

}  // namespace

std::shared_ptr<rocksdb::FileSystem> NewPowerCutFileSystemForTest(
    std::shared_ptr<rocksdb::FileSystem> base, const std::string& journal) {
  return std::make_shared<PowerCutFileSystem>(std::move(base), journal);
}

absl::StatusOr<PowerCutReport> RollBackToSynced(const std::string& journal, std::mt19937& rng) {
  std::map<std::string, FileState> files;
  std::ifstream in(journal);
  for (std::string line; std::getline(in, line);) {
    if (in.eof()) break;  // A last line without its newline was cut by the kill.
    const std::vector<std::string> f = absl::StrSplit(line, '\t');
    if (f[0] == "C" && f.size() == 2) {
      files[f[1]] = FileState{false, 0, std::nullopt};
    } else if (f[0] == "S" && f.size() == 3) {
      uint64_t size = 0;
      if (!absl::SimpleAtoi(f[1], &size)) return absl::DataLossError("bad journal line: " + line);
      files[f[2]].synced = size;
    } else if (f[0] == "D" && f.size() == 2) {
      for (auto& [path, state] : files) {
        if (ParentOf(path) == f[1]) {
          state.entry_durable = true;
          state.restore.reset();
        }
      }
    } else if (f[0] == "R" && f.size() == 4) {
      FileState moved = files.count(f[1]) ? files[f[1]] : FileState{};
      files.erase(f[1]);
      // The oldest bytes since the last directory sync are what a power cut brings back.
      if (auto old = files.find(f[2]); old != files.end() && old->second.restore.has_value()) {
        moved.restore = old->second.restore;
      } else {
        moved.restore = f[3];
      }
      moved.entry_durable = false;
      files[f[2]] = moved;
    } else if (f[0] == "X" && f.size() == 2) {
      files.erase(f[1]);
    } else {
      return absl::DataLossError("bad journal line: " + line);
    }
  }

  PowerCutReport report;
  std::error_code ec;
  for (const auto& [path, state] : files) {
    if (!fs::exists(path, ec)) continue;
    const uint64_t size = fs::file_size(path, ec);
    if (!state.entry_durable) {
      report.bytes_lost += size;
      fs::remove(path, ec);
      if (state.restore.has_value() && *state.restore != "-") {
        fs::copy_file(*state.restore, path, fs::copy_options::overwrite_existing, ec);
        ++report.renames_undone;
      } else {
        ++report.files_removed;
      }
    } else if (state.synced.has_value() && size > *state.synced) {
      uint64_t keep = *state.synced;
      if (rng() % 2 == 1) {
        keep += rng() % (size - *state.synced);
        ++report.tails_torn;
      } else {
        ++report.tails_dropped;
      }
      fs::resize_file(path, keep, ec);
      report.bytes_lost += size - keep;
    }
    if (ec) return absl::InternalError(absl::StrCat("cannot roll back ", path, ": ", ec.message()));
  }
  // Every saved copy, also those of a rename the kill stopped before its journal line.
  const std::string saved_prefix = fs::path(journal).filename().string() + ".saved.";
  for (const auto& entry : fs::directory_iterator(fs::path(Normal(journal)).parent_path(), ec)) {
    if (entry.path().filename().string().rfind(saved_prefix, 0) == 0) fs::remove(entry, ec);
  }
  std::ofstream(journal, std::ios::trunc);
  return report;
}

}  // namespace settle::storage
