// RwLock: a reader-writer lock that lets a waiting writer in ahead of new readers.
//
// std::shared_mutex on glibc is a pthread rwlock with the default reader preference: as long as
// some thread holds it shared, new readers keep getting in, so under a steady stream of searches
// an Add could wait forever. Here a waiting writer blocks new readers (glibc's
// PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP), so it waits only for the searches already
// running. The price: a thread must not take the lock shared twice (a writer queued between the
// two would deadlock it), which the indexes never do.
//
// Meets the SharedMutex requirements, so std::unique_lock and std::shared_lock work with it.
// Thread safety: it is the synchronization.
#pragma once

#include <pthread.h>

namespace deja::vindex {

class RwLock {
 public:
  RwLock() {
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
#if defined(__GLIBC__)
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
#endif
    pthread_rwlock_init(&rw_, &attr);
    pthread_rwlockattr_destroy(&attr);
  }
  ~RwLock() { pthread_rwlock_destroy(&rw_); }
  RwLock(const RwLock&) = delete;
  RwLock& operator=(const RwLock&) = delete;

  void lock() { pthread_rwlock_wrlock(&rw_); }
  bool try_lock() { return pthread_rwlock_trywrlock(&rw_) == 0; }
  void unlock() { pthread_rwlock_unlock(&rw_); }
  void lock_shared() { pthread_rwlock_rdlock(&rw_); }
  bool try_lock_shared() { return pthread_rwlock_tryrdlock(&rw_) == 0; }
  void unlock_shared() { pthread_rwlock_unlock(&rw_); }

 private:
  pthread_rwlock_t rw_;
};

}  // namespace deja::vindex
