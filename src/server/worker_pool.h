// A fixed pool of threads for blocking work: upstream calls (which may last minutes for an LLM
// answer) and followers waiting on a single flight. The HTTP I/O threads never block; they hand
// such work here.
//
// Thread safety: Submit may be called from any thread. The destructor runs queued tasks to
// completion and joins the threads.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace deja::server {

class WorkerPool {
 public:
  explicit WorkerPool(int threads);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  void Submit(std::function<void()> task);
  size_t queued() const;
  // Blocks until no task is queued or running.
  void WaitIdle();

 private:
  void Run();

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  std::condition_variable idle_cv_;
  int running_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace deja::server
