// Eviction policies (store.eviction): what a score costs, and which policy keeps the most value in
// a size-capped cache on a synthetic LLM trace.
//
// Reference: BM_LruScore_Ref, one LRU score (two loads and a max). BM_LfuScore and BM_CostScore
// score the same metadata; the cost policy also reads the clock (SystemClock). An eviction scores
// 16 sampled entries per round, next to a durable LMDB commit of milliseconds.
//
// BM_Simulate/<policy>/<trace>/<cache permille> replays a trace through an in-memory cache capped
// at that share of the working set's bytes, evicting like the LMDB engine (16 random samples per
// round, lowest score goes) and reports counters hit_rate_pct and cost_saved_pct (the share of the
// trace's recompute cost, input + 4 x output tokens, answered from the cache). Its time is the
// simulation's, not meaningful. The trace: 20,000 distinct prompts, 300,000 requests one per 100
// ms, Zipf(0.9) popularity; half the prompts chat-like (20-300 tokens in, 50-500 out), 35%
// RAG-like (1,000-8,000 in, 5-100 out), 15% long generations (50-500 in, 800-4,000 out),
// log-uniform; an entry takes 300 + 4 bytes per token. Trace 0 keeps popularity fixed; trace 1
// reshuffles which prompts are popular every 30,000 requests (50 simulated minutes).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <unordered_map>
#include <vector>

#include "deja/store.h"

namespace {

using deja::EntryMeta;

EntryMeta SampleMeta() {
  EntryMeta m;
  m.created_at_ms = deja::SystemClock()->NowMillis() - 60'000;
  m.last_hit_at_ms = m.created_at_ms + 30'000;
  m.hit_count = 3;
  m.input_tokens = 200;
  m.output_tokens = 300;
  m.size_bytes = 2300;
  return m;
}

void Score(benchmark::State& state, const char* policy_name) {
  auto policy = *deja::MakeEvictionPolicy(policy_name);
  EntryMeta m = SampleMeta();
  for (auto _ : state) {
    benchmark::DoNotOptimize(m);
    benchmark::DoNotOptimize(policy->Score(m));
  }
}
void BM_LruScore_Ref(benchmark::State& state) { Score(state, "lru"); }
void BM_LfuScore(benchmark::State& state) { Score(state, "lfu"); }
void BM_CostScore(benchmark::State& state) { Score(state, "cost"); }
BENCHMARK(BM_LruScore_Ref);
BENCHMARK(BM_LfuScore);
BENCHMARK(BM_CostScore);

struct Prompt {
  int64_t in, out, size;
};

struct Trace {
  std::vector<Prompt> prompts;
  std::vector<int> requests;
  int64_t bytes = 0;  // the working set: every prompt's entry
};

Trace MakeTrace(bool shifting) {
  constexpr int kPrompts = 20'000, kRequests = 300'000;
  std::mt19937_64 rng(42);
  auto log_uniform = [&](double lo, double hi) {
    return static_cast<int64_t>(
        std::exp(std::uniform_real_distribution<>(std::log(lo), std::log(hi))(rng)));
  };
  Trace t;
  t.prompts.resize(kPrompts);
  for (Prompt& p : t.prompts) {
    const double kind = std::uniform_real_distribution<>(0, 1)(rng);
    if (kind < 0.5) {
      p = {log_uniform(20, 300), log_uniform(50, 500), 0};
    } else if (kind < 0.85) {
      p = {log_uniform(1000, 8000), log_uniform(5, 100), 0};
    } else {
      p = {log_uniform(50, 500), log_uniform(800, 4000), 0};
    }
    p.size = 300 + 4 * (p.in + p.out);
    t.bytes += p.size;
  }
  std::vector<double> cdf(kPrompts);
  double sum = 0;
  for (int i = 0; i < kPrompts; ++i) cdf[i] = (sum += 1.0 / std::pow(i + 1, 0.9));
  std::vector<int> rank_to_prompt(kPrompts);
  for (int i = 0; i < kPrompts; ++i) rank_to_prompt[i] = i;
  std::shuffle(rank_to_prompt.begin(), rank_to_prompt.end(), rng);
  t.requests.resize(kRequests);
  for (int i = 0; i < kRequests; ++i) {
    if (shifting && i > 0 && i % 30'000 == 0) {
      std::shuffle(rank_to_prompt.begin(), rank_to_prompt.end(), rng);
    }
    const double u = std::uniform_real_distribution<>(0, sum)(rng);
    t.requests[i] = rank_to_prompt[std::lower_bound(cdf.begin(), cdf.end(), u) - cdf.begin()];
  }
  return t;
}

const Trace& TraceFor(bool shifting) {
  static const Trace fixed = MakeTrace(false), moving = MakeTrace(true);
  return shifting ? moving : fixed;
}

void BM_Simulate(benchmark::State& state) {
  static constexpr const char* kPolicies[] = {"lru", "lfu", "cost"};
  const char* name = kPolicies[state.range(0)];
  const Trace& trace = TraceFor(state.range(1) == 1);
  const int64_t cap = trace.bytes * state.range(2) / 1000;
  double hit_rate = 0, saved = 0;
  for (auto _ : state) {
    deja::FakeClock clock;
    auto policy = *deja::MakeEvictionPolicy(name, &clock);
    std::unordered_map<int, EntryMeta> cache;
    std::vector<int> cached;  // for sampling
    std::unordered_map<int, size_t> slot;
    std::mt19937_64 rng(7);
    int64_t bytes = 0, hits = 0;
    double cost_all = 0, cost_hit = 0;
    for (int id : trace.requests) {
      clock.Advance(100);
      const Prompt& p = trace.prompts[id];
      const double cost = static_cast<double>(p.in) + 4.0 * static_cast<double>(p.out);
      cost_all += cost;
      if (auto it = cache.find(id); it != cache.end()) {
        ++hits;
        cost_hit += cost;
        ++it->second.hit_count;
        it->second.last_hit_at_ms = clock.NowMillis();
        continue;
      }
      EntryMeta m;
      m.created_at_ms = clock.NowMillis();
      m.input_tokens = p.in;
      m.output_tokens = p.out;
      m.size_bytes = p.size;
      bytes += p.size;
      while (bytes > cap && !cached.empty()) {
        int victim = -1;
        double lowest = 0;
        for (int s = 0; s < 16; ++s) {
          const int k = cached[std::uniform_int_distribution<size_t>(0, cached.size() - 1)(rng)];
          const double score = policy->Score(cache[k]);
          if (victim < 0 || score < lowest) victim = k, lowest = score;
        }
        bytes -= cache[victim].size_bytes;
        const size_t at = slot[victim];
        cached[at] = cached.back();
        slot[cached[at]] = at;
        cached.pop_back();
        slot.erase(victim);
        cache.erase(victim);
      }
      cache[id] = m;
      slot[id] = cached.size();
      cached.push_back(id);
    }
    hit_rate = 100.0 * static_cast<double>(hits) / static_cast<double>(trace.requests.size());
    saved = 100.0 * cost_hit / cost_all;
  }
  state.counters["hit_rate_pct"] = hit_rate;
  state.counters["cost_saved_pct"] = saved;
}
BENCHMARK(BM_Simulate)
    ->ArgsProduct({{0, 1, 2}, {0, 1}, {20, 50, 100, 200}})
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
