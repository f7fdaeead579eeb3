// Crash safety: a child process writes, acknowledging each Put that returned OK; the parent kills
// it with SIGKILL mid-stream, reopens the store and checks every acknowledged entry and the totals.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <memory>
#include <set>
#include <vector>

#include "deja/store.h"
#include "gtest/gtest.h"
#include "store/store_test_util.h"

namespace deja {
namespace {

using testing::KeyFor;
using testing::MakeEntry;

constexpr int kAcksPerRound = 300;

size_t BodySize(uint32_t i) { return 200 + (i % 7) * 700; }  // some bodies overflow a page

StoreOptions CrashOptions(const std::string& dir) {
  StoreOptions o;
  o.data_dir = dir;
  o.map_size_bytes = int64_t{256} << 20;
  o.hit_flush_batch = 8;  // hit flushes (write transactions) race with the kill too
  return o;
}

// The child: writes entries first, first+1, ... forever, acknowledging each on `fd`. Between Puts
// it reads (counting hits) and puts-then-deletes scratch entries, so all write paths are in flight.
// Never returns; exit codes name the failure for the parent.
[[noreturn]] void ChildMain(const std::string& dir, uint32_t first, int fd) {
  StatusOr<std::unique_ptr<Store>> store = OpenLmdbStore(CrashOptions(dir));
  if (!store.ok()) _exit(2);
  for (uint32_t i = first;; ++i) {
    if (!(*store)->Put(MakeEntry(i, BodySize(i), i % 2 ? "odd" : "")).ok()) _exit(3);
    if (::write(fd, &i, sizeof i) != sizeof i) _exit(4);
    (void)(*store)->Get(KeyFor(first + (i - first) / 2));
    if (i % 8 == 0) {
      const uint32_t scratch = 0x40000000 + i;
      if (!(*store)->Put(MakeEntry(scratch, 100)).ok()) _exit(5);
      if (!(*store)->Delete(KeyFor(scratch)).ok()) _exit(6);
    }
  }
}

// Runs one child from `first`, kills it after kAcksPerRound acknowledgments, returns what it acked.
std::vector<uint32_t> RunAndKill(const std::string& dir, uint32_t first) {
  int fds[2];
  EXPECT_EQ(::pipe(fds), 0);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    ChildMain(dir, first, fds[1]);
  }
  ::close(fds[1]);
  std::vector<uint32_t> acked;
  while (static_cast<int>(acked.size()) < kAcksPerRound) {
    uint32_t i;
    ssize_t n = ::read(fds[0], &i, sizeof i);  // blocks until the child acknowledges a Put
    if (n != sizeof i) break;                  // the child died on its own
    acked.push_back(i);
  }
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::close(fds[0]);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
      << "child failed before the kill; exit code "
      << (WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  return acked;
}

TEST(LmdbCrashTest, AcknowledgedPutsSurviveSigkill) {
  testing::ScratchDir dir;
  std::vector<uint32_t> all_acked;
  for (uint32_t round = 0; round < 2; ++round) {
    // The parent opens the store only after the child is dead, never across a fork.
    std::vector<uint32_t> acked = RunAndKill(dir.path(), round * 100000);
    ASSERT_EQ(static_cast<int>(acked.size()), kAcksPerRound);
    all_acked.insert(all_acked.end(), acked.begin(), acked.end());

    StatusOr<std::unique_ptr<Store>> store = OpenLmdbStore(CrashOptions(dir.path()));
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    for (uint32_t i : all_acked) {
      StatusOr<Entry> e = (*store)->Peek(KeyFor(i));
      ASSERT_TRUE(e.ok()) << "acknowledged entry " << i << ": " << e.status().ToString();
      ASSERT_TRUE(testing::SameContent(*e, MakeEntry(i, BodySize(i), i % 2 ? "odd" : "")))
          << "entry " << i;
    }
    int64_t scanned = 0, bytes = 0;
    ASSERT_TRUE((*store)
                    ->Scan({},
                           [&](const Entry& e) {
                             ++scanned;
                             bytes += e.meta.size_bytes;
                             return true;
                           })
                    .ok());
    StatusOr<StoreStats> st = (*store)->Stats();
    ASSERT_TRUE(st.ok());
    EXPECT_EQ(st->entries, scanned);
    EXPECT_EQ(st->bytes, bytes);
    // At most one Put per round can commit without being acknowledged, plus one scratch entry.
    EXPECT_GE(scanned, static_cast<int64_t>(all_acked.size()));
    EXPECT_LE(scanned, static_cast<int64_t>(all_acked.size()) + 2 * (round + 1));
  }
}

}  // namespace
}  // namespace deja
