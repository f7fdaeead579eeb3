// Single flight: concurrent identical misses make one upstream call.
//
// The first request for a key becomes the leader and calls upstream; later ones (followers) join
// its Flight. A streaming leader publishes events as they arrive, so streaming followers fan out
// live; the others wait for the finished answer. When the leader fails (upstream error, truncated
// stream, client abort) its followers are released to go upstream themselves.
//
// Thread safety: all methods are safe to call concurrently.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include "deja/store.h"

namespace deja::server {

class Flight {
 public:
  enum class State { kRunning, kSucceeded, kFailed };

  // Leader: a streamed answer's event, in order.
  void PublishEvent(StreamEvent event);
  // Leader: the answer is complete and cacheable (`response`), or the flight failed (nullopt).
  void Finish(std::optional<CachedResponse> response);

  // Follower: waits until events beyond `*next` exist or the flight ends, or the deadline passes.
  // Appends new events to *out and advances *next. Returns the state at return time.
  State WaitEvents(size_t* next, std::vector<StreamEvent>* out,
                   std::chrono::steady_clock::time_point deadline);
  // Follower: waits for the end; the response when it succeeded, nullopt when it failed or timed
  // out
  // (`*timed_out` tells which).
  std::optional<CachedResponse> WaitResult(std::chrono::steady_clock::time_point deadline,
                                           bool* timed_out);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  State state_ = State::kRunning;
  std::vector<StreamEvent> events_;
  std::optional<CachedResponse> result_;
};

class SingleFlight {
 public:
  struct Ticket {
    std::shared_ptr<Flight> flight;
    bool leader = false;
  };
  // Joins the flight for `key`, starting one (as leader) when none is running.
  Ticket Join(const CacheKey& key);
  // The leader removes its flight before calling Finish, so requests arriving later start afresh
  // (they will find the stored entry, or lead a new flight).
  void Remove(const CacheKey& key, const std::shared_ptr<Flight>& flight);
  size_t in_flight() const;

 private:
  struct KeyHash {
    size_t operator()(const CacheKey& k) const {
      size_t h;
      static_assert(sizeof h <= sizeof k.bytes);
      __builtin_memcpy(&h, k.bytes.data(), sizeof h);
      return h;
    }
  };
  mutable std::mutex mu_;
  std::unordered_map<CacheKey, std::shared_ptr<Flight>, KeyHash> flights_;
};

}  // namespace deja::server
