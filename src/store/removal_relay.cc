// StoreRemovalRelay and RemovalCauseName (deja/store.h).
#include <mutex>
#include <shared_mutex>

#include "deja/store.h"

namespace deja {

std::string_view RemovalCauseName(RemovalCause cause) {
  switch (cause) {
    case RemovalCause::kDeleted:
      return "deleted";
    case RemovalCause::kPurged:
      return "purged";
    case RemovalCause::kExpired:
      return "expired";
    case RemovalCause::kEvicted:
      return "evicted";
  }
  return "unknown";
}

void StoreRemovalRelay::OnRemoved(std::span<const CacheKey> keys, RemovalCause cause) {
  // Shared: removals on many threads reach the target concurrently; SetTarget waits for them.
  std::shared_lock lock(mu_);
  if (target_ != nullptr) target_->OnRemoved(keys, cause);
}

void StoreRemovalRelay::SetTarget(StoreRemovalListener* target) {
  std::unique_lock lock(mu_);
  target_ = target;
}

}  // namespace deja
