// `deja replay --cassette FILE --upstream URL [--compare bytes|structured|embedding|judge] ...`:
// re-asks every recorded request of a cassette and reports which answers changed (regression
// check for prompt or model changes). The engine is server/replay_diff.h; README "Replay diff".
//
// Exit status: 0 nothing changed; 1 some answer changed; 2 a usage error, an unreadable cassette,
// or (with no change) records that could not be checked. API keys come from OPENAI_API_KEY and
// ANTHROPIC_API_KEY and are never printed.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/json.h"
#include "core/route.h"
#include "semantic/embedder.h"
#include "server/cassette_format.h"
#include "server/replay_diff.h"
#include "server/upstream_client.h"

namespace deja::cli {
namespace {

struct ReplayFlags {
  std::string cassette, upstream, anthropic_upstream, model, compare = "structured";
  double threshold = 0.9;
  std::string embedder = "lexical", model_dir;
  std::string judge_model, report;
  int parallel = 4;
  int timeout_ms = 120000;
};

int Fail(const std::string& message) {
  std::fprintf(stderr, "deja replay: %s\n", message.c_str());
  return 2;
}

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? std::string() : std::string(v);
}

int RunReplay(const ReplayFlags& f) {
  if (f.cassette.empty()) return Fail("--cassette FILE is required");
  if (f.upstream.empty()) return Fail("--upstream URL is required");
  StatusOr<server::CompareMode> mode = server::ParseCompareMode(f.compare);
  if (!mode.ok()) return Fail(mode.status().message());
  if (f.parallel < 1 || f.parallel > 64) return Fail("--parallel must be 1..64");
  if (!(f.threshold >= -1 && f.threshold <= 1)) return Fail("--threshold must be in [-1, 1]");
  if (f.timeout_ms < 1) return Fail("--timeout-ms must be positive");

  server::ReplayOptions options;
  options.upstream = f.upstream;
  options.anthropic_upstream = f.anthropic_upstream;
  options.compare = *mode;
  options.model = f.model;
  options.threshold = f.threshold;
  options.judge_model = f.judge_model;
  options.parallel = f.parallel;
  options.openai_api_key = Env("OPENAI_API_KEY");
  options.anthropic_api_key = Env("ANTHROPIC_API_KEY");

  std::shared_ptr<semantic::Embedder> embedder;
  if (*mode == server::CompareMode::kEmbedding) {
    semantic::EmbedderOptions eo;
    eo.kind = f.embedder;
    eo.model_dir = f.model_dir;
    StatusOr<std::unique_ptr<semantic::Embedder>> made = semantic::MakeEmbedder(eo);
    if (!made.ok()) return Fail("embedder: " + made.status().ToString());
    embedder = std::move(*made);
    options.similarity = [embedder](std::string_view a, std::string_view b) {
      return semantic::TextSimilarity(*embedder, a, b);
    };
  }

  StatusOr<std::vector<server::CassetteRecord>> records = server::ReadCassetteFile(f.cassette);
  if (!records.ok()) return Fail(records.status().message());
  // A local or test upstream may need no key; a provider's answers then are 401s: say why up front.
  bool wants_openai = false, wants_anthropic = false;
  for (const server::CassetteRecord& r : *records) {
    const bool anthropic = RouteFromPath(r.entry.meta.route) == Route::kAnthropicMessages;
    (anthropic ? wants_anthropic : wants_openai) = true;
  }
  const bool judge = *mode == server::CompareMode::kJudge;
  if ((wants_openai || judge) && options.openai_api_key.empty()) {
    std::fprintf(stderr, "deja replay: OPENAI_API_KEY is not set; sending no Authorization\n");
  }
  if (wants_anthropic && options.anthropic_api_key.empty()) {
    std::fprintf(stderr, "deja replay: ANTHROPIC_API_KEY is not set; sending no x-api-key\n");
  }

  server::UpstreamOptions upstream_options;
  upstream_options.read_timeout_ms = f.timeout_ms;
  upstream_options.max_idle_per_host = f.parallel;
  StatusOr<std::unique_ptr<server::UpstreamClient>> client =
      server::UpstreamClient::Create(upstream_options);
  if (!client.ok()) return Fail(client.status().message());

  server::ReplayReport report = server::RunReplay(*records, options, client->get());
  report.cassette = f.cassette;
  const std::string summary = server::ReportSummary(report);
  std::fwrite(summary.data(), 1, summary.size(), stdout);
  if (!f.report.empty()) {
    std::string text;
    json::AppendPretty(server::ReportToJson(report, options), 0, &text);
    text += "\n";
    if (Status s = server::WriteFileAtomically(f.report, text); !s.ok()) {
      return Fail("writing the report: " + s.ToString());
    }
  }
  return server::ReplayExitStatus(report);
}

}  // namespace

void RegisterReplayCommand(CLI::App& app, Runner* run) {
  auto f = std::make_shared<ReplayFlags>();
  CLI::App* cmd = app.add_subcommand(
      "replay",
      "Re-ask a cassette's requests and report changed answers (exit 0 same, 1 changed, 2 errors)");
  cmd->add_option("--cassette", f->cassette, "The cassette file whose requests are re-asked");
  cmd->add_option("--upstream", f->upstream,
                  "Base URL of the provider, e.g. https://api.openai.com (keys from "
                  "OPENAI_API_KEY / ANTHROPIC_API_KEY)");
  cmd->add_option("--anthropic-upstream", f->anthropic_upstream,
                  "Base URL for /v1/messages records (default: --upstream)");
  cmd->add_option("--model", f->model, "Ask this model instead of each record's");
  cmd->add_option("--compare", f->compare,
                  "bytes (answer text), structured (text, tool calls, finish reasons), "
                  "embedding (similarity >= --threshold) or judge (an LLM decides)")
      ->capture_default_str();
  cmd->add_option("--threshold", f->threshold, "embedding: least cosine similarity that is same")
      ->capture_default_str();
  cmd->add_option("--embedder", f->embedder, "embedding: lexical, static, words or bert")
      ->capture_default_str();
  cmd->add_option("--model-dir", f->model_dir, "embedding: the embedder's model directory/file");
  cmd->add_option("--judge-model", f->judge_model,
                  "judge: the model asked (default: the record's)");
  cmd->add_option("--parallel", f->parallel, "Records in flight at once (1..64)")
      ->capture_default_str();
  cmd->add_option("--timeout-ms", f->timeout_ms, "Read timeout per upstream request")
      ->capture_default_str();
  cmd->add_option("--report", f->report, "Write a JSON report for CI to this file");
  cmd->callback([run, f] { *run = [f] { return RunReplay(*f); }; });
}

}  // namespace deja::cli
