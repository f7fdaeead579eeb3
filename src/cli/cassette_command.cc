// `deja cassette ls|show|diff|prune`: inspects and edits cassette files (server/cassette_format.h).
// import/export (data directory <-> cassette) are in cassette_transfer.cc.
#include <cstdio>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "cli/cassette_command.h"
#include "cli/commands.h"
#include "core/json.h"
#include "server/cassette_format.h"
#include "server/json_diff.h"

namespace deja::cli {
namespace {

using server::CassetteRecord;

int Fail(const std::string& message) {
  std::fprintf(stderr, "deja cassette: %s\n", message.c_str());
  return 2;  // 1 is `diff`'s "they differ"
}

std::string Dash(const std::string& s) { return s.empty() ? std::string("-") : s; }

// One line for people: key, route, namespace, model, kind, status, recorded, request excerpt.
std::string Line(const CassetteRecord& r) {
  const Entry& e = r.entry;
  std::string excerpt = e.canonical_request.substr(0, 72);
  if (e.canonical_request.size() > 72) excerpt += "...";
  return e.key.Hex() + "\t" + Dash(e.meta.route) + "\t" + Dash(e.meta.name_space) + "\t" +
         Dash(e.meta.model) + "\t" + (e.response.streamed ? "stream" : "json") + "\t" +
         std::to_string(e.response.status) + "\t" + server::FormatIsoMillis(e.meta.created_at_ms) +
         "\t" + excerpt;
}

int RunLs(const CassetteFlags& f) {
  StatusOr<std::vector<CassetteRecord>> records = server::ReadCassetteFile(f.cassette);
  if (!records.ok()) return Fail(records.status().message());
  for (const CassetteRecord& r : *records) std::printf("%s\n", Line(r).c_str());
  return 0;
}

int RunShow(const CassetteFlags& f) {
  StatusOr<std::vector<CassetteRecord>> records = server::ReadCassetteFile(f.cassette);
  if (!records.ok()) return Fail(records.status().message());
  if (f.key.size() < 4) return Fail("give at least 4 hex digits of the key");
  const CassetteRecord* found = nullptr;
  for (const CassetteRecord& r : *records) {
    if (r.entry.key.Hex().rfind(f.key, 0) != 0) continue;
    if (found != nullptr) return Fail("key prefix " + f.key + " is ambiguous");
    found = &r;
  }
  if (found == nullptr) return Fail("no record with key " + f.key + " in " + f.cassette);
  std::string out;
  json::AppendPretty(server::RecordToJson(*found), 0, &out);
  std::printf("%s\n", out.c_str());
  return 0;
}

// A record's JSON without what changes on every recording of the same answer's metadata.
json::Value Comparable(const CassetteRecord& r) {
  json::Value v = server::RecordToJson(r);
  if (json::Value* meta = v.Find("meta")) meta->Erase("recorded_at");
  return v;
}

int RunDiff(const CassetteFlags& f) {
  StatusOr<std::vector<CassetteRecord>> a = server::ReadCassetteFile(f.cassette);
  if (!a.ok()) return Fail(a.status().message());
  StatusOr<std::vector<CassetteRecord>> b = server::ReadCassetteFile(f.other);
  if (!b.ok()) return Fail(b.status().message());
  size_t i = 0, j = 0, added = 0, removed = 0, changed = 0;
  // Both lists are sorted by key: one merge pass.
  while (i < a->size() || j < b->size()) {
    const bool only_a = j == b->size() || (i < a->size() && (*a)[i].entry.key < (*b)[j].entry.key);
    const bool only_b = i == a->size() || (j < b->size() && (*b)[j].entry.key < (*a)[i].entry.key);
    if (only_a) {
      std::printf("- %s\n", Line((*a)[i++]).c_str());
      ++removed;
    } else if (only_b) {
      std::printf("+ %s\n", Line((*b)[j++]).c_str());
      ++added;
    } else {
      std::vector<server::JsonDifference> d =
          server::DiffJson(Comparable((*a)[i]), Comparable((*b)[j]));
      if (!d.empty()) {
        ++changed;
        std::printf("~ %s\n", Line((*b)[j]).c_str());
        for (size_t k = 0; k < d.size() && k < 20; ++k) {
          std::printf("    %s: %s -> %s\n", d[k].pointer.c_str(), d[k].left.c_str(),
                      d[k].right.c_str());
        }
        if (d.size() > 20) std::printf("    ... and %zu more\n", d.size() - 20);
      }
      ++i;
      ++j;
    }
  }
  std::printf("%zu added, %zu removed, %zu changed\n", added, removed, changed);
  return added + removed + changed == 0 ? 0 : 1;
}

int RunPrune(const CassetteFlags& f) {
  StatusOr<std::vector<CassetteRecord>> records = server::ReadCassetteFile(f.cassette);
  if (!records.ok()) return Fail(records.status().message());
  std::set<std::string> used;
  for (const std::string& log : f.used_logs) {
    std::ifstream in(log);
    if (!in) return Fail("cannot read the used log " + log);
    for (std::string line; std::getline(in, line);) {
      if (line.size() == 64) used.insert(line);
    }
  }
  std::vector<CassetteRecord> kept;
  std::vector<std::string> dropped;
  for (CassetteRecord& r : *records) {
    if (used.count(r.entry.key.Hex()) != 0) {
      kept.push_back(std::move(r));
    } else {
      dropped.push_back(Line(r));
    }
  }
  // A log from another cassette (or an empty one) would otherwise silently wipe this one.
  if (kept.empty() && !dropped.empty()) {
    return Fail("refusing to prune: the used log names none of the " +
                std::to_string(dropped.size()) + " records of " + f.cassette +
                " (wrong log or wrong cassette?)");
  }
  for (const std::string& d : dropped) std::printf("- %s\n", d.c_str());
  if (f.dry_run) {
    std::printf("would prune %zu of %zu records\n", dropped.size(), dropped.size() + kept.size());
    return 0;
  }
  if (!dropped.empty()) {
    Status st = server::WriteCassetteFile(f.cassette, std::move(kept));
    if (!st.ok()) return Fail(st.ToString());
  }
  std::printf("pruned %zu records\n", dropped.size());
  return 0;
}

}  // namespace

void RegisterCassetteCommand(CLI::App& app, Runner* run) {
  auto f = std::make_shared<CassetteFlags>();
  CLI::App* cmd = app.add_subcommand(
      "cassette", "Inspect and edit cassettes (recordings of test mode; README, Test mode)");
  cmd->require_subcommand(1);
  auto add = [&](const char* name, const char* help, int (*fn)(const CassetteFlags&)) {
    CLI::App* sub = cmd->add_subcommand(name, help);
    sub->add_option("cassette", f->cassette, "Cassette file")->required();
    sub->callback([run, f, fn] { *run = [f, fn] { return fn(*f); }; });
    return sub;
  };
  add("ls",
      "One line per record: key, route, namespace, model, json|stream, status, recorded at, "
      "request excerpt (tab-separated)",
      RunLs);
  CLI::App* show = add("show", "Print one record as JSON", RunShow);
  show->add_option("key", f->key, "Key, or a unique prefix of at least 4 hex digits")->required();
  CLI::App* diff =
      add("diff",
          "Records added (+), removed (-) and changed (~) from CASSETTE to OTHER; exit "
          "1 when they differ",
          RunDiff);
  diff->add_option("other", f->other, "The cassette to compare with")->required();
  CLI::App* prune =
      add("prune", "Drop records no used log names (logs from `deja serve --used-log`)", RunPrune);
  prune->add_option("--used-log", f->used_logs, "Used log (repeatable: the union is kept)")
      ->required();
  prune->add_flag("--dry-run", f->dry_run, "Print what would be dropped, change nothing");
  RegisterCassetteTransfer(cmd, f, run);
}

}  // namespace deja::cli
