#include "server/single_flight.h"

namespace deja::server {

void Flight::PublishEvent(StreamEvent event) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(std::move(event));
  }
  cv_.notify_all();
}

void Flight::Finish(std::optional<CachedResponse> response) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (state_ != State::kRunning) return;
    state_ = response ? State::kSucceeded : State::kFailed;
    result_ = std::move(response);
  }
  cv_.notify_all();
}

Flight::State Flight::WaitEvents(size_t* next, std::vector<StreamEvent>* out,
                                 std::chrono::steady_clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_until(lock, deadline,
                 [&] { return events_.size() > *next || state_ != State::kRunning; });
  for (; *next < events_.size(); ++*next) out->push_back(events_[*next]);
  return state_;
}

std::optional<CachedResponse> Flight::WaitResult(std::chrono::steady_clock::time_point deadline,
                                                 bool* timed_out) {
  std::unique_lock<std::mutex> lock(mu_);
  *timed_out = !cv_.wait_until(lock, deadline, [&] { return state_ != State::kRunning; });
  if (state_ == State::kSucceeded) return result_;
  return std::nullopt;
}

SingleFlight::Ticket SingleFlight::Join(const CacheKey& key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto [it, inserted] = flights_.try_emplace(key);
  if (inserted) it->second = std::make_shared<Flight>();
  return Ticket{it->second, inserted};
}

void SingleFlight::Remove(const CacheKey& key, const std::shared_ptr<Flight>& flight) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = flights_.find(key);
  if (it != flights_.end() && it->second == flight) flights_.erase(it);
}

size_t SingleFlight::in_flight() const {
  std::lock_guard<std::mutex> lock(mu_);
  return flights_.size();
}

}  // namespace deja::server
