// `deja analyze [--config FILE] [--set K=V] [--report OUT] TRACE.jsonl|-`: shadow mode's report
// computed offline from a trace of request/response pairs (server/trace_analysis.h documents the
// line format). Prints the report as JSON on standard output (or into --report), and a one-line
// summary on standard error. Exit status: 0, or 1 when the trace cannot be read or a line is
// malformed and --strict is given (otherwise malformed lines are skipped and counted).
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/config.h"
#include "core/json.h"
#include "server/trace_analysis.h"

namespace deja::cli {
namespace {

struct AnalyzeFlags {
  std::string trace;
  std::string config;
  std::vector<std::string> settings;
  std::string report;
  bool strict = false;
};

int Fail(const std::string& message) {
  std::fprintf(stderr, "deja analyze: %s\n", message.c_str());
  return 1;
}

int RunAnalyze(const AnalyzeFlags& flags) {
  StatusOr<GatewayOptions> options = ResolveOptions(flags.config, flags.settings);
  if (!options.ok()) return Fail(options.status().message());
  StatusOr<std::unique_ptr<server::TraceAnalyzer>> analyzer =
      server::TraceAnalyzer::Create(*options);
  if (!analyzer.ok()) return Fail(analyzer.status().message());

  std::ifstream file;
  if (flags.trace != "-") {
    file.open(flags.trace, std::ios::binary);
    if (!file) return Fail("cannot open " + flags.trace);
  }
  std::istream& in = flags.trace == "-" ? std::cin : file;
  std::string line;
  int64_t line_number = 0, skipped = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    Status st = (*analyzer)->AddLine(line);
    if (st.ok()) continue;
    ++skipped;
    std::fprintf(stderr, "deja analyze: %s:%lld: %s\n", flags.trace.c_str(),
                 static_cast<long long>(line_number), st.message().c_str());
    if (flags.strict) return 1;
  }
  if (in.bad()) return Fail("reading " + flags.trace + " failed");

  json::Value report = (*analyzer)->report().ToJson();
  report.Set("skipped_lines", json::Value(skipped));
  std::string text;
  json::AppendPretty(report, 0, &text);
  text += '\n';
  if (flags.report.empty()) {
    std::fwrite(text.data(), 1, text.size(), stdout);
  } else {
    std::ofstream out(flags.report, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.flush()) return Fail("cannot write " + flags.report);
  }
  const json::Value* hits = report.Find("would_be_hits");
  const json::Value* wrong = report.Find("false_hits");
  std::fprintf(stderr,
               "deja analyze: %lld requests, %lld would-be exact hits (%lld false), %lld lines "
               "skipped\n",
               static_cast<long long>((*analyzer)->report().requests()),
               static_cast<long long>(hits->Find("exact")->as_number()),
               static_cast<long long>(wrong->Find("exact")->as_number()),
               static_cast<long long>(skipped));
  return 0;
}

}  // namespace

void RegisterAnalyzeCommand(CLI::App& app, Runner* run) {
  auto f = std::make_shared<AnalyzeFlags>();
  CLI::App* cmd = app.add_subcommand(
      "analyze",
      "Shadow-mode report from a trace (JSON Lines of {request, response}): would-be hits, false "
      "hits, savings");
  cmd->add_option("trace", f->trace, "Trace file (JSON Lines), or - for standard input")
      ->required();
  cmd->add_option("--config", f->config,
                  "TOML config whose cache rules and prices apply (default: $DEJA_CONFIG, else "
                  "./deja.toml when present)");
  cmd->add_option("--set", f->settings, "Any option as SECTION.KEY=VALUE (repeatable)");
  cmd->add_option("--report", f->report, "Write the JSON report here instead of standard output");
  cmd->add_flag("--strict", f->strict, "Stop with exit status 1 at the first malformed line");
  cmd->callback([run, f] { *run = [f] { return RunAnalyze(*f); }; });
}

}  // namespace deja::cli
