#include "server/semantic_eval.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <numeric>

#include "core/json.h"

namespace deja::server {
namespace {

uint64_t SplitMix64(uint64_t* state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::string LineError(size_t line, const std::string& what) {
  return "line " + std::to_string(line) + ": " + what;
}

// Union-find with path halving over dense ids.
class DisjointSets {
 public:
  size_t Add() {
    parent_.push_back(parent_.size());
    return parent_.size() - 1;
  }
  size_t Find(size_t x) {
    while (parent_[x] != x) {
      parent_[x] = parent_[parent_[x]];
      x = parent_[x];
    }
    return x;
  }
  // True when a and b were in different sets.
  bool Union(size_t a, size_t b) {
    a = Find(a);
    b = Find(b);
    if (a == b) return false;
    parent_[std::max(a, b)] = std::min(a, b);  // the older id is the root
    return true;
  }

 private:
  std::vector<size_t> parent_;
};

// ASCII case folded, separators and sentence punctuation as spaces, spaces collapsed. Symbols that
// change meaning ("C++", "C#", "$5", "50%") are kept.
std::string SurfaceForm(std::string_view text) {
  static constexpr std::string_view kSeparators = " \t\r\n.,;:!?'\"()[]{}<>-_/\\|`~";
  std::string out;
  bool space = false;
  for (char c : text) {
    if (kSeparators.find(c) != std::string_view::npos) {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
  }
  return out;
}

StatusOr<double> ParseUnit(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || !(v >= 0 && v <= 1)) {
    return InvalidArgumentError("threshold \"" + std::string(s) + "\" is not a number in [0, 1]");
  }
  return v;
}

}  // namespace

StatusOr<std::vector<EvalPair>> ParseEvalPairs(std::string_view jsonl) {
  std::vector<EvalPair> out;
  size_t line_no = 0;
  while (!jsonl.empty()) {
    const size_t nl = jsonl.find('\n');
    std::string_view line = jsonl.substr(0, nl);
    jsonl = nl == std::string_view::npos ? std::string_view() : jsonl.substr(nl + 1);
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    StatusOr<json::Value> doc = json::Parse(line);
    if (!doc.ok()) return InvalidArgumentError(LineError(line_no, doc.status().message()));
    const json::Value* a = doc->is_object() ? doc->Find("a") : nullptr;
    const json::Value* b = doc->is_object() ? doc->Find("b") : nullptr;
    const json::Value* label = doc->is_object() ? doc->Find("label") : nullptr;
    if (a == nullptr || !a->is_string() || b == nullptr || !b->is_string()) {
      return InvalidArgumentError(LineError(line_no, "expected string members \"a\" and \"b\""));
    }
    if (label == nullptr || !label->is_number() ||
        (label->as_number() != 0 && label->as_number() != 1)) {
      return InvalidArgumentError(LineError(line_no, "expected \"label\": 0 or 1"));
    }
    out.push_back(EvalPair{a->as_string(), b->as_string(), label->as_number() == 1});
  }
  return out;
}

std::vector<EvalPair> SelectEvalPairs(std::vector<EvalPair> pairs, size_t limit, uint64_t seed) {
  uint64_t state = seed;
  for (size_t i = pairs.size(); i > 1; --i) {
    const size_t j = static_cast<size_t>(SplitMix64(&state) % i);
    std::swap(pairs[i - 1], pairs[j]);
  }
  if (limit != 0 && pairs.size() > limit) pairs.resize(limit);
  return pairs;
}

AnswerGroups::AnswerGroups(std::span<const EvalPair> pairs) {
  std::unordered_map<std::string, size_t> id;
  std::vector<const std::string*> text;
  DisjointSets sets;
  auto id_of = [&](const std::string& q) {
    auto [it, inserted] = id.try_emplace(q, 0);
    if (inserted) {
      it->second = sets.Add();
      text.push_back(&it->first);
    }
    return it->second;
  };
  for (const EvalPair& p : pairs) {
    const size_t a = id_of(p.a);
    const size_t b = id_of(p.b);
    if (p.duplicate) sets.Union(a, b);
  }
  // Texts that differ only in case, spacing and punctuation are one question, labelled or not.
  std::unordered_map<std::string, size_t> by_form;
  for (size_t i = 0; i < text.size(); ++i) {
    auto [it, inserted] = by_form.try_emplace(SurfaceForm(*text[i]), i);
    if (!inserted && sets.Union(it->second, i)) ++surface_merges_;
  }
  // Groups numbered by their root, which is the group's first-seen question.
  std::vector<int64_t> number(text.size(), -1);
  for (size_t i = 0; i < text.size(); ++i) {
    const size_t root = sets.Find(i);
    if (number[root] < 0) number[root] = static_cast<int64_t>(groups_++);
    group_of_.emplace(*text[i], number[root]);
  }
}

int64_t AnswerGroups::GroupOf(std::string_view question) const {
  auto it = group_of_.find(std::string(question));
  return it == group_of_.end() ? -1 : it->second;
}

std::string AnswerGroups::AnswerFor(std::string_view question) const {
  const int64_t g = GroupOf(question);
  if (g < 0) return "Answer to an unlisted question: " + std::string(question);
  return "Answer #" + std::to_string(g) + ".";
}

size_t AnswerGroups::LabelConflicts(std::span<const EvalPair> pairs) const {
  size_t n = 0;
  for (const EvalPair& p : pairs) {
    if (!p.duplicate && GroupOf(p.a) >= 0 && GroupOf(p.a) == GroupOf(p.b)) ++n;
  }
  return n;
}

StatusOr<std::vector<double>> ParseThresholds(std::string_view spec) {
  std::vector<double> out;
  if (spec.find(':') != std::string_view::npos) {
    std::vector<double> parts;
    while (true) {
      const size_t colon = spec.find(':');
      DEJA_ASSIGN_OR_RETURN(double v, ParseUnit(spec.substr(0, colon)));
      parts.push_back(v);
      if (colon == std::string_view::npos) break;
      spec.remove_prefix(colon + 1);
    }
    if (parts.size() != 3 || parts[2] <= 0 || parts[1] < parts[0]) {
      return InvalidArgumentError("thresholds: expected LOW:HIGH:STEP with LOW <= HIGH, STEP > 0");
    }
    // Computed from the index, not accumulated, so 0.5 + 49 * 0.01 is 0.99 and not 0.98999...
    const double steps = std::floor((parts[1] - parts[0]) / parts[2] + 1e-6);
    for (int64_t i = 0; i <= static_cast<int64_t>(steps); ++i) {
      out.push_back(std::round((parts[0] + static_cast<double>(i) * parts[2]) * 1e6) / 1e6);
    }
    return out;
  }
  while (true) {
    const size_t comma = spec.find(',');
    DEJA_ASSIGN_OR_RETURN(double v, ParseUnit(spec.substr(0, comma)));
    out.push_back(v);
    if (comma == std::string_view::npos) break;
    spec.remove_prefix(comma + 1);
  }
  return out;
}

std::vector<CurvePoint> ComputeCurve(std::span<const EvalObservation> observations,
                                     std::span<const double> thresholds) {
  const double pairs = static_cast<double>(observations.size());
  int64_t reachable = 0;
  for (const EvalObservation& o : observations) reachable += o.reachable ? 1 : 0;
  std::vector<CurvePoint> out;
  out.reserve(thresholds.size());
  for (double t : thresholds) {
    CurvePoint p;
    p.threshold = t;
    int64_t correct_reachable = 0;
    for (const EvalObservation& o : observations) {
      if (!o.semantic_hit || o.similarity < t - 1e-9) continue;
      ++p.hits;
      if (!o.correct) ++p.false_hits;
      if (o.correct && o.reachable) ++correct_reachable;
      if (o.cross_match) {
        ++p.cross_hits;
        if (!o.correct) ++p.cross_false_hits;
      }
    }
    if (pairs > 0) {
      p.hit_rate = static_cast<double>(p.hits) / pairs;
      p.false_hits_per_request = static_cast<double>(p.false_hits) / pairs;
    }
    if (p.hits > 0) p.false_hit_rate = static_cast<double>(p.false_hits) / p.hits;
    if (reachable > 0) p.recall = static_cast<double>(correct_reachable) / reachable;
    out.push_back(p);
  }
  return out;
}

namespace {

void AddTo(const EvalObservation& o, VerifiedSegment* s) {
  ++s->requests;
  if (o.semantic_hit) {
    ++s->served;
    if (!o.correct) ++s->false_hits;
  }
  if (o.verified) ++s->verified;
}

void FinishSegment(VerifiedSegment* s) {
  if (s->requests > 0) s->hit_rate = static_cast<double>(s->served) / s->requests;
  if (s->served > 0) s->false_hit_rate = static_cast<double>(s->false_hits) / s->served;
  if (s->served + s->verified > 0) {
    s->false_per_lookup = static_cast<double>(s->false_hits) / (s->served + s->verified);
  }
}

}  // namespace

VerifiedSummary SummarizeVerified(std::span<const EvalObservation> observations, int segments) {
  VerifiedSummary out;
  const size_t n = observations.size();
  const size_t parts = static_cast<size_t>(std::max(1, segments));
  out.segments.resize(std::min(parts, std::max<size_t>(n, 1)));
  for (size_t i = 0; i < n; ++i) {
    AddTo(observations[i], &out.total);
    AddTo(observations[i], &out.segments[i * out.segments.size() / n]);
  }
  FinishSegment(&out.total);
  for (VerifiedSegment& s : out.segments) FinishSegment(&s);
  return out;
}

std::optional<CurvePoint> BestUnder(std::span<const CurvePoint> curve, double max_false_hit_rate) {
  std::optional<CurvePoint> best;
  for (const CurvePoint& p : curve) {
    if (p.hits == 0 || p.false_hit_rate > max_false_hit_rate + 1e-12) continue;
    if (!best || p.hit_rate > best->hit_rate ||
        (p.hit_rate == best->hit_rate && p.threshold < best->threshold)) {
      best = p;
    }
  }
  return best;
}

std::optional<CurvePoint> LowestFalseHitRate(std::span<const CurvePoint> curve, int64_t min_hits) {
  std::optional<CurvePoint> best;
  for (const CurvePoint& p : curve) {
    if (p.hits < min_hits || p.hits == 0) continue;
    if (!best || p.false_hit_rate < best->false_hit_rate ||
        (p.false_hit_rate == best->false_hit_rate && p.hit_rate > best->hit_rate)) {
      best = p;
    }
  }
  return best;
}

}  // namespace deja::server
