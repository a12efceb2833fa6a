// Makes absl::Mutex visible to ThreadSanitizer. Debian's abseil is not built with TSan, so its
// Mutex carries none of the annotations an instrumented abseil has, and TSan reports every
// access it guards as a race. The thread-sanitizer build (SETTLE_SANITIZE=thread) links this
// file into every executable, exported (-rdynamic): its definitions of Mutex's and CondVar's
// locking entry points take the place of libabsl's for every caller, gRPC included, tell TSan
// about the lock with its mutex annotations, and call libabsl's own through dlsym(RTLD_NEXT).
//
// Between a pre- and a post- annotation TSan ignores this thread's memory accesses: that is
// where abseil evaluates a waiter's Condition (on whichever thread unlocks), the reads an
// instrumented abseil also hides. A wait (Await, CondVar::Wait) is an unlock and a lock.
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SETTLE_TSAN_BUILD 1
#endif
#endif

#ifdef SETTLE_TSAN_BUILD
#include <dlfcn.h>
#include <sanitizer/tsan_interface.h>

#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

#define SETTLE_STRINGIFY_(x) #x
#define SETTLE_STRINGIFY(x) SETTLE_STRINGIFY_(x)
static_assert(std::string_view(SETTLE_STRINGIFY(ABSL_OPTION_INLINE_NAMESPACE_NAME)) == "debian3",
              "the mangled names below spell abseil's inline namespace (debian3)");

namespace {

// libabsl's definition of the symbol `mangled`, found once.
template <typename Fn>
Fn Real(const char* mangled) {
  void* fn = dlsym(RTLD_NEXT, mangled);
  if (fn == nullptr) {
    std::fprintf(stderr, "absl_mutex_tsan: libabsl has no %s\n", mangled);
    std::abort();
  }
  return reinterpret_cast<Fn>(fn);
}

// libabsl calls its own entry points too (WaitWithTimeout calls WaitWithDeadline): only the
// outermost call on a thread is annotated.
thread_local int depth = 0;

// Runs `call` unannotated when an entry point is already on this thread's stack; otherwise
// through `annotated`.
template <typename Call, typename Annotated>
auto Outermost(Call call, Annotated annotated) {
  if (depth > 0) return call();
  ++depth;
  auto result = annotated(call);
  --depth;
  return result;
}

constexpr unsigned kWrite = 0;
constexpr unsigned kRead = __tsan_mutex_read_lock;

using Mu = absl::Mutex;
using Cond = absl::Condition;

void Acquire(Mu* mu, unsigned how) {
  __tsan_mutex_pre_lock(mu, how);
  __tsan_mutex_post_lock(mu, how, 0);
}

// A call that may release `mu` and always returns with it held again as before.
template <typename Call>
auto Waiting(Mu* mu, unsigned how, Call call) {
  return Outermost(call, [&](Call& c) {
    __tsan_mutex_pre_unlock(mu, how);
    auto result = c();
    __tsan_mutex_post_unlock(mu, how);
    Acquire(mu, how);
    return result;
  });
}

// A call that returns with `mu` held.
template <typename Call>
auto Locking(Mu* mu, unsigned how, Call call) {
  return Outermost(call, [&](Call& c) {
    __tsan_mutex_pre_lock(mu, how);
    auto result = c();
    __tsan_mutex_post_lock(mu, how, 0);
    return result;
  });
}

template <typename Call>
bool Trying(Mu* mu, unsigned how, Call call) {
  return Outermost(call, [&](Call& c) {
    __tsan_mutex_pre_lock(mu, how | __tsan_mutex_try_lock);
    bool locked = c();
    __tsan_mutex_post_lock(
        mu, how | __tsan_mutex_try_lock | (locked ? 0 : __tsan_mutex_try_lock_failed), 0);
    return locked;
  });
}

template <typename Call>
void Unlocking(Mu* mu, unsigned how, Call call) {
  Outermost(call, [&](Call& c) {
    __tsan_mutex_pre_unlock(mu, how);
    c();
    __tsan_mutex_post_unlock(mu, how);
    return 0;
  });
}

#define SETTLE_REAL(type, mangled) static const auto real = Real<type>(mangled)

}  // namespace

namespace absl {
ABSL_NAMESPACE_BEGIN

void Mutex::Lock() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  SETTLE_REAL(void (*)(Mu*), "_ZN4absl7debian35Mutex4LockEv");
  Locking(this, kWrite, [&] { real(this); return 0; });
}

void Mutex::ReaderLock() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  SETTLE_REAL(void (*)(Mu*), "_ZN4absl7debian35Mutex10ReaderLockEv");
  Locking(this, kRead, [&] { real(this); return 0; });
}

bool Mutex::TryLock() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  SETTLE_REAL(bool (*)(Mu*), "_ZN4absl7debian35Mutex7TryLockEv");
  return Trying(this, kWrite, [&] { return real(this); });
}

bool Mutex::ReaderTryLock() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  SETTLE_REAL(bool (*)(Mu*), "_ZN4absl7debian35Mutex13ReaderTryLockEv");
  return Trying(this, kRead, [&] { return real(this); });
}

void Mutex::Unlock() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  SETTLE_REAL(void (*)(Mu*), "_ZN4absl7debian35Mutex6UnlockEv");
  Unlocking(this, kWrite, [&] { real(this); return 0; });
}

void Mutex::ReaderUnlock() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  SETTLE_REAL(void (*)(Mu*), "_ZN4absl7debian35Mutex12ReaderUnlockEv");
  Unlocking(this, kRead, [&] { real(this); return 0; });
}

void Mutex::LockWhen(const Condition& cond) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  SETTLE_REAL(void (*)(Mu*, const Cond*), "_ZN4absl7debian35Mutex8LockWhenERKNS0_9ConditionE");
  Locking(this, kWrite, [&] { real(this, &cond); return 0; });
}

void Mutex::ReaderLockWhen(const Condition& cond) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  SETTLE_REAL(void (*)(Mu*, const Cond*),
              "_ZN4absl7debian35Mutex14ReaderLockWhenERKNS0_9ConditionE");
  Locking(this, kRead, [&] { real(this, &cond); return 0; });
}

bool Mutex::LockWhenWithTimeout(const Condition& cond, Duration timeout)
    ABSL_NO_THREAD_SAFETY_ANALYSIS {
  SETTLE_REAL(bool (*)(Mu*, const Cond*, Duration),
              "_ZN4absl7debian35Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  return Locking(this, kWrite, [&] { return real(this, &cond, timeout); });
}

bool Mutex::ReaderLockWhenWithTimeout(const Condition& cond, Duration timeout)
    ABSL_NO_THREAD_SAFETY_ANALYSIS {
  SETTLE_REAL(bool (*)(Mu*, const Cond*, Duration),
              "_ZN4absl7debian35Mutex25ReaderLockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  return Locking(this, kRead, [&] { return real(this, &cond, timeout); });
}

bool Mutex::LockWhenWithDeadline(const Condition& cond, Time deadline)
    ABSL_NO_THREAD_SAFETY_ANALYSIS {
  SETTLE_REAL(bool (*)(Mu*, const Cond*, Time),
              "_ZN4absl7debian35Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  return Locking(this, kWrite, [&] { return real(this, &cond, deadline); });
}

bool Mutex::ReaderLockWhenWithDeadline(const Condition& cond, Time deadline)
    ABSL_NO_THREAD_SAFETY_ANALYSIS {
  SETTLE_REAL(bool (*)(Mu*, const Cond*, Time),
              "_ZN4absl7debian35Mutex26ReaderLockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  return Locking(this, kRead, [&] { return real(this, &cond, deadline); });
}

// Await is called with the lock held, by a writer or a reader; TSan's view needs only that
// the lock is given up and taken again, so both are annotated as a writer's.
void Mutex::Await(const Condition& cond) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  SETTLE_REAL(void (*)(Mu*, const Cond*), "_ZN4absl7debian35Mutex5AwaitERKNS0_9ConditionE");
  Waiting(this, kWrite, [&] { real(this, &cond); return 0; });
}

bool Mutex::AwaitWithTimeout(const Condition& cond, Duration timeout)
    ABSL_NO_THREAD_SAFETY_ANALYSIS {
  SETTLE_REAL(bool (*)(Mu*, const Cond*, Duration),
              "_ZN4absl7debian35Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  return Waiting(this, kWrite, [&] { return real(this, &cond, timeout); });
}

bool Mutex::AwaitWithDeadline(const Condition& cond, Time deadline)
    ABSL_NO_THREAD_SAFETY_ANALYSIS {
  SETTLE_REAL(bool (*)(Mu*, const Cond*, Time),
              "_ZN4absl7debian35Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  return Waiting(this, kWrite, [&] { return real(this, &cond, deadline); });
}

void CondVar::Wait(Mutex* mu) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  SETTLE_REAL(void (*)(CondVar*, Mu*), "_ZN4absl7debian37CondVar4WaitEPNS0_5MutexE");
  Waiting(mu, kWrite, [&] { real(this, mu); return 0; });
}

bool CondVar::WaitWithTimeout(Mutex* mu, Duration timeout) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  SETTLE_REAL(bool (*)(CondVar*, Mu*, Duration),
              "_ZN4absl7debian37CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE");
  return Waiting(mu, kWrite, [&] { return real(this, mu, timeout); });
}

bool CondVar::WaitWithDeadline(Mutex* mu, Time deadline) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  SETTLE_REAL(bool (*)(CondVar*, Mu*, Time),
              "_ZN4absl7debian37CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE");
  return Waiting(mu, kWrite, [&] { return real(this, mu, deadline); });
}

ABSL_NAMESPACE_END
}  // namespace absl

#endif  // SETTLE_TSAN_BUILD
