// `deja eval semantic --pairs FILE.jsonl [...]`: how often the semantic cache answers a reworded
// question, and how often that answer is wrong, per embedder and threshold, measured through the
// real gateway (server/semantic_eval_run.h describes the method, server/semantic_eval.h the rates).
// Prints a table per run on standard output and, with --report, the whole curve as JSON. Exit
// status: 0, or 1 when the pairs cannot be read or an embedder cannot be built.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/json.h"
#include "server/semantic_eval.h"
#include "server/semantic_eval_run.h"

namespace deja::cli {
namespace {

struct EvalFlags {
  std::string pairs;
  std::vector<std::string> embedders = {"lexical"};
  std::vector<std::string> model_dirs;  // DIR, or KIND=DIR
  int dimensions = 256;
  size_t limit = 5000;
  uint64_t seed = server::kDefaultEvalSeed;
  std::vector<std::string> contexts = {"shared"};
  std::string thresholds = "0.5:0.99:0.01";
  std::string targets = "0.02,0.05";
  std::string report;
  std::string work_dir;
  bool quiet = false;
  double max_false_hit_rate = 1;  // < 1: vCache verification on (one point, not a curve)
  std::string false_hit_bound = "served";
  double audit_rate = 0.01;
};

int Fail(const std::string& message) {
  std::fprintf(stderr, "deja eval semantic: %s\n", message.c_str());
  return 1;
}

// The model directory for `kind`: a KIND=DIR entry, else the first plain DIR.
std::string ModelDirFor(const std::vector<std::string>& dirs, const std::string& kind) {
  std::string plain;
  for (const std::string& d : dirs) {
    const size_t eq = d.find('=');
    if (eq != std::string::npos && d.substr(0, eq) == kind) return d.substr(eq + 1);
    if (eq == std::string::npos && plain.empty()) plain = d;
  }
  return plain;
}

std::string Percent(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%5.1f%%", 100 * v);
  return buf;
}

void PrintVerifiedRun(const server::SemanticEvalRun& run, double threshold) {
  const server::VerifiedSummary v = server::SummarizeVerified(run.observations, 4);
  std::printf(
      "\n%s (%d dims), %s context, threshold %.2f, vCache bound %g on %s: %zu pairs in %.1f s; "
      "b answered %lld semantic / %lld verified / %lld exact / %lld miss\n",
      run.embedder.c_str(), run.dimensions, run.shared_context ? "shared" : "isolated", threshold,
      run.max_false_hit_rate, run.false_hit_bound.c_str(), run.observations.size(), run.seconds,
      static_cast<long long>(run.b_semantic_hits), static_cast<long long>(run.b_verified),
      static_cast<long long>(run.b_exact_hits), static_cast<long long>(run.b_misses));
  std::printf("  part      hit rate  false/hit  false/lookup  verified\n");
  auto row = [](const std::string& name, const server::VerifiedSegment& s) {
    std::printf("  %-8s  %s    %s     %s        %lld\n", name.c_str(), Percent(s.hit_rate).c_str(),
                Percent(s.false_hit_rate).c_str(), Percent(s.false_per_lookup).c_str(),
                static_cast<long long>(s.verified));
  };
  for (size_t i = 0; i < v.segments.size(); ++i) row("q" + std::to_string(i + 1), v.segments[i]);
  row("all", v.total);
  std::printf("  audits %lld (%lld wrong); pooled observations %lld\n",
              static_cast<long long>(run.audits), static_cast<long long>(run.audit_false),
              static_cast<long long>(run.pooled_observations));
}

void PrintRun(const server::SemanticEvalRun& run, const std::vector<double>& thresholds,
              const std::vector<double>& targets) {
  const std::vector<server::CurvePoint> curve = server::ComputeCurve(run.observations, thresholds);
  std::printf(
      "\n%s (%d dims), %s context: %zu pairs in %.1f s; b answered %lld semantic / "
      "%lld exact / %lld miss; a admitted %lld of %zu; %lld guard rejections\n",
      run.embedder.c_str(), run.dimensions, run.shared_context ? "shared" : "isolated",
      run.observations.size(), run.seconds, static_cast<long long>(run.b_semantic_hits),
      static_cast<long long>(run.b_exact_hits), static_cast<long long>(run.b_misses),
      static_cast<long long>(run.a_admitted), run.observations.size(),
      static_cast<long long>(run.guard_rejections));
  std::printf("  threshold  hit rate  false/hit  false/req  recall\n");
  for (const server::CurvePoint& p : curve) {
    // Every 0.05 keeps the table short; the report has every threshold.
    const double twentieths = p.threshold * 20;
    if (std::fabs(twentieths - std::round(twentieths)) > 1e-6) continue;
    std::printf("  %9.2f  %s    %s     %s    %s\n", p.threshold, Percent(p.hit_rate).c_str(),
                Percent(p.false_hit_rate).c_str(), Percent(p.false_hits_per_request).c_str(),
                Percent(p.recall).c_str());
  }
  for (double target : targets) {
    std::optional<server::CurvePoint> best = server::BestUnder(curve, target);
    if (best) {
      std::printf(
          "  best with false-hit rate <= %g: hit rate %s at threshold %.2f (false/hit %s, "
          "recall %s)\n",
          target, Percent(best->hit_rate).c_str(), best->threshold,
          Percent(best->false_hit_rate).c_str(), Percent(best->recall).c_str());
    } else {
      std::printf("  best with false-hit rate <= %g: none (no threshold reaches it)\n", target);
    }
  }
  const int64_t min_hits =
      std::max<int64_t>(20, static_cast<int64_t>(run.observations.size()) / 100);
  if (std::optional<server::CurvePoint> low = server::LowestFalseHitRate(curve, min_hits)) {
    std::printf("  lowest false-hit rate with >= %lld hits: %s at threshold %.2f (hit rate %s)\n",
                static_cast<long long>(min_hits), Percent(low->false_hit_rate).c_str(),
                low->threshold, Percent(low->hit_rate).c_str());
  }
}

int RunEval(const EvalFlags& flags) {
  std::ifstream in(flags.pairs, std::ios::binary);
  if (!in) return Fail("cannot open " + flags.pairs);
  std::stringstream text;
  text << in.rdbuf();
  StatusOr<std::vector<server::EvalPair>> all = server::ParseEvalPairs(text.str());
  if (!all.ok()) return Fail(flags.pairs + ": " + all.status().message());
  if (all->empty()) return Fail(flags.pairs + ": no pairs");
  StatusOr<std::vector<double>> thresholds = server::ParseThresholds(flags.thresholds);
  if (!thresholds.ok()) return Fail(thresholds.status().message());
  StatusOr<std::vector<double>> targets = server::ParseThresholds(flags.targets);
  if (!targets.ok()) return Fail("--targets: " + targets.status().message());
  double lowest = 1;
  for (double t : *thresholds) lowest = std::min(lowest, t);
  const bool verifying = flags.max_false_hit_rate < 1;
  if (!(flags.max_false_hit_rate > 0 && flags.max_false_hit_rate <= 1)) {
    return Fail("--max-false-hit-rate must be in (0, 1]");
  }
  if (verifying && thresholds->size() != 1) {
    return Fail("with --max-false-hit-rate below 1, give one threshold (--thresholds 0.8)");
  }

  // The ground truth uses every pair of the file, so matches across sampled pairs are judged too.
  const server::AnswerGroups truth(*all);
  const std::vector<server::EvalPair> sample =
      server::SelectEvalPairs(*all, flags.limit, flags.seed);
  int64_t duplicates_in_file = 0, duplicates = 0;
  for (const server::EvalPair& p : *all) duplicates_in_file += p.duplicate ? 1 : 0;
  for (const server::EvalPair& p : sample) duplicates += p.duplicate ? 1 : 0;

  json::Value report = json::Value::MakeObject();
  report.Set("pairs_file", json::Value(flags.pairs));
  report.Set("pairs_in_file", json::Value(static_cast<int64_t>(all->size())));
  report.Set("duplicates_in_file", json::Value(duplicates_in_file));
  report.Set("questions", json::Value(static_cast<int64_t>(truth.questions())));
  report.Set("answer_groups", json::Value(static_cast<int64_t>(truth.groups())));
  report.Set("surface_merges", json::Value(static_cast<int64_t>(truth.surface_merges())));
  report.Set("limit", json::Value(static_cast<int64_t>(flags.limit)));
  report.Set("seed", json::Value(static_cast<double>(flags.seed)));
  report.Set("pairs", json::Value(static_cast<int64_t>(sample.size())));
  report.Set("duplicates", json::Value(duplicates));
  report.Set("label_conflicts", json::Value(static_cast<int64_t>(truth.LabelConflicts(sample))));
  report.Set("lowest_threshold", json::Value(lowest));
  report.Set("max_false_hit_rate", json::Value(flags.max_false_hit_rate));
  report.Set("false_hit_bound", json::Value(verifying ? flags.false_hit_bound : "off"));
  report.Set("method",
             json::Value("Real gateway over loopback HTTP with a fake provider whose answers are "
                         "equal exactly for questions joined by duplicate pairs (or equal up to "
                         "case, spacing and punctuation). Per pair: a "
                         "(X-Deja-Similarity: 1, stored and offered to the index), then b "
                         "(X-Deja-Similarity: lowest threshold, Cache-Control: no-store). "
                         "semantic.max_false_hit_rate = 1: vCache verification off, the raw "
                         "curve; below 1: the gateway serves or verifies each would-be hit and the "
                         "run is one point, by quarter of the stream. Shared context: every pair "
                         "in one context, b may match any "
                         "earlier a (such a cross match is correct only if labels or surface form "
                         "link the two questions, so the shared false-hit rate is an upper "
                         "bound); isolated: one namespace per pair, b can only match its own a."));
  json::Value definitions = json::Value::MakeObject();
  definitions.Set("hit_rate", json::Value("semantic hits / pairs"));
  definitions.Set("false_hit_rate", json::Value("false hits / semantic hits"));
  definitions.Set("false_hits_per_request", json::Value("false hits / pairs"));
  definitions.Set("false_per_lookup",
                  json::Value("false hits / (semantic hits + verified would-be hits)"));
  definitions.Set(
      "recall", json::Value("correct hits / pairs whose answer was in the index when b was asked"));
  report.Set("definitions", std::move(definitions));
  json::Value runs = json::Value::MakeArray();

  std::printf(
      "%s: %zu of %zu pairs (%lld duplicates), seed %llu; thresholds %s; "
      "vCache verification %s\n",
      flags.pairs.c_str(), sample.size(), all->size(), static_cast<long long>(duplicates),
      static_cast<unsigned long long>(flags.seed), flags.thresholds.c_str(),
      verifying ? "on" : "off");
  for (const std::string& context : flags.contexts) {
    if (context != "shared" && context != "isolated") {
      return Fail("--context must be shared or isolated, not " + context);
    }
    for (const std::string& kind : flags.embedders) {
      server::SemanticEvalOptions o;
      o.embedder = kind;
      o.model_dir = ModelDirFor(flags.model_dirs, kind);
      o.dimensions = flags.dimensions;
      o.shared_context = context == "shared";
      o.lowest_threshold = lowest;
      o.work_dir = flags.work_dir;
      o.max_false_hit_rate = flags.max_false_hit_rate;
      o.false_hit_bound = flags.false_hit_bound;
      o.audit_rate = flags.audit_rate;
      if (!flags.quiet) {
        o.progress = [&](size_t done, size_t total) {
          if (done % 500 == 0 || done == total) {
            std::fprintf(stderr, "\r%s/%s: %zu/%zu pairs", kind.c_str(), context.c_str(), done,
                         total);
            if (done == total) std::fprintf(stderr, "\n");
          }
        };
      }
      StatusOr<server::SemanticEvalRun> run = server::RunSemanticEval(sample, truth, o);
      if (!run.ok()) return Fail(kind + ": " + run.status().message());
      if (verifying) {
        PrintVerifiedRun(*run, lowest);
      } else {
        PrintRun(*run, *thresholds, *targets);
      }
      json::Value r = server::EvalRunToJson(*run, *thresholds, *targets);
      r.Set("model_dir", json::Value(o.model_dir));
      runs.Push(std::move(r));
    }
  }
  report.Set("runs", std::move(runs));
  if (!flags.report.empty()) {
    std::string out;
    json::AppendPretty(report, 0, &out);
    out += '\n';
    std::ofstream file(flags.report, std::ios::binary | std::ios::trunc);
    file << out;
    if (!file.flush()) return Fail("cannot write " + flags.report);
    std::fprintf(stderr, "deja eval semantic: wrote %s\n", flags.report.c_str());
  }
  return 0;
}

}  // namespace

void RegisterEvalCommand(CLI::App& app, Runner* run) {
  CLI::App* eval = app.add_subcommand("eval", "Measure the cache's quality on labelled data");
  eval->require_subcommand(1);
  auto f = std::make_shared<EvalFlags>();
  CLI::App* cmd = eval->add_subcommand(
      "semantic",
      "Hit rate and false-hit rate of the semantic cache over thresholds, per embedder");
  cmd->add_option("--pairs", f->pairs, "JSON lines {\"a\",\"b\",\"label\"} (label 1: duplicates)")
      ->required();
  cmd->add_option("--embedder", f->embedders, "Embedders to compare (lexical, words, static, bert)")
      ->delimiter(',');
  cmd->add_option("--model-dir", f->model_dirs,
                  "Model directory or file for non-lexical embedders: DIR, or KIND=DIR "
                  "(repeatable)");
  cmd->add_option("--dimensions", f->dimensions, "Dimensions of the lexical embedder (256)");
  cmd->add_option("--limit", f->limit,
                  "Pairs evaluated, taken after a fixed-seed shuffle (default 5000; 0: all)");
  cmd->add_option("--seed", f->seed, "Shuffle seed");
  cmd->add_option("--context", f->contexts,
                  "shared (one context for all pairs; default) and/or isolated (one per pair)")
      ->delimiter(',');
  cmd->add_option("--thresholds", f->thresholds,
                  "LOW:HIGH:STEP or a comma list (default 0.5:0.99:0.01)");
  cmd->add_option("--targets", f->targets,
                  "False-hit rates to report the best threshold for (default 0.02,0.05)");
  cmd->add_option("--max-false-hit-rate", f->max_false_hit_rate,
                  "vCache bound; below 1 the gateway verifies unproven matches (default 1: off, "
                  "the raw curve)");
  cmd->add_option("--false-hit-bound", f->false_hit_bound,
                  "What the bound applies to: served (default) or lookups (vCache paper)")
      ->check(CLI::IsMember({"served", "lookups"}));
  cmd->add_option("--audit-rate", f->audit_rate,
                  "Share of confident hits verified anyway (default 0.01)");
  cmd->add_option("--report", f->report, "Write the full report (every threshold) as JSON");
  cmd->add_option("--work-dir", f->work_dir, "Where the temporary data directory goes");
  cmd->add_flag("--quiet", f->quiet, "No progress on standard error");
  cmd->callback([run, f] { *run = [f] { return RunEval(*f); }; });
}

}  // namespace deja::cli
