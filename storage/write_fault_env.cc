#include "storage/write_fault_env.h"

#include <unistd.h>

#include "rocksdb/file_system.h"

namespace settle::storage {
namespace {

using rocksdb::DataVerificationInfo;
using rocksdb::FileOptions;
using rocksdb::FSWritableFile;
using rocksdb::IODebugContext;
using rocksdb::IOOptions;
using rocksdb::IOStatus;
using rocksdb::Slice;

bool Triggered(const std::string& path) { return access(path.c_str(), F_OK) == 0; }
IOStatus Injected() { return IOStatus::NoSpace("injected by --test_write_fault_trigger"); }

class FaultyWritableFile final : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  FaultyWritableFile(std::unique_ptr<FSWritableFile> file, const std::string& trigger)
      : FSWritableFileOwnerWrapper(std::move(file)), trigger_(trigger) {}

  IOStatus Append(const Slice& d, const IOOptions& o, IODebugContext* g) override {
    return Triggered(trigger_) ? Injected() : target()->Append(d, o, g);
  }
  IOStatus Append(const Slice& d, const IOOptions& o, const DataVerificationInfo& v,
                  IODebugContext* g) override {
    return Triggered(trigger_) ? Injected() : target()->Append(d, o, v, g);
  }
  IOStatus PositionedAppend(const Slice& d, uint64_t off, const IOOptions& o,
                            IODebugContext* g) override {
    return Triggered(trigger_) ? Injected() : target()->PositionedAppend(d, off, o, g);
  }
  IOStatus PositionedAppend(const Slice& d, uint64_t off, const IOOptions& o,
                            const DataVerificationInfo& v, IODebugContext* g) override {
    return Triggered(trigger_) ? Injected() : target()->PositionedAppend(d, off, o, v, g);
  }
  IOStatus Flush(const IOOptions& o, IODebugContext* g) override {
    return Triggered(trigger_) ? Injected() : target()->Flush(o, g);
  }
  IOStatus Sync(const IOOptions& o, IODebugContext* g) override {
    return Triggered(trigger_) ? Injected() : target()->Sync(o, g);
  }
  IOStatus Fsync(const IOOptions& o, IODebugContext* g) override {
    return Triggered(trigger_) ? Injected() : target()->Fsync(o, g);
  }

 private:
  const std::string trigger_;
};

class WriteFaultFileSystem final : public rocksdb::FileSystemWrapper {
 public:
  WriteFaultFileSystem(const std::shared_ptr<rocksdb::FileSystem>& base, std::string trigger)
      : FileSystemWrapper(base), trigger_(std::move(trigger)) {}
  const char* Name() const override { return "SettleWriteFaultFileSystem"; }

  IOStatus NewWritableFile(const std::string& f, const FileOptions& o,
                           std::unique_ptr<FSWritableFile>* r, IODebugContext* g) override {
    return Wrap(target()->NewWritableFile(f, o, r, g), r);
  }
  IOStatus ReopenWritableFile(const std::string& f, const FileOptions& o,
                              std::unique_ptr<FSWritableFile>* r, IODebugContext* g) override {
    return Wrap(target()->ReopenWritableFile(f, o, r, g), r);
  }
  IOStatus ReuseWritableFile(const std::string& f, const std::string& old, const FileOptions& o,
                             std::unique_ptr<FSWritableFile>* r, IODebugContext* g) override {
    return Wrap(target()->ReuseWritableFile(f, old, o, r, g), r);
  }

 private:
  IOStatus Wrap(IOStatus s, std::unique_ptr<FSWritableFile>* r) const {
    if (s.ok()) *r = std::make_unique<FaultyWritableFile>(std::move(*r), trigger_);
    return s;
  }
  const std::string trigger_;
};

}  // namespace

std::shared_ptr<rocksdb::FileSystem> NewWriteFaultFileSystemForTest(
    std::shared_ptr<rocksdb::FileSystem> base, const std::string& trigger_path) {
  return std::make_shared<WriteFaultFileSystem>(std::move(base), trigger_path);
}

}  // namespace settle::storage
