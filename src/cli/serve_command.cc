// `deja serve`: runs the caching gateway until SIGTERM or SIGINT.
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#ifdef DEJA_HAVE_TCMALLOC
#include <gperftools/malloc_extension_c.h>
#endif

#include "cli/commands.h"
#include "cli/config.h"
#include "core/key.h"
#include "server/cassette_store.h"
#include "server/gateway.h"
#include "server/http_server.h"
#include "server/semantic_setup.h"
#include "server/shadow_report.h"
#include "server/upstream_client.h"

namespace deja::cli {
namespace {

struct ServeFlags {
  std::string config;
  std::string listen, upstream, anthropic_upstream, data_dir, admin_token;
  std::string mode, cassette, used_log;
  std::vector<std::string> settings;
  bool semantic = false;
};

int Fail(const std::string& message) {
  std::fprintf(stderr, "deja serve: %s\n", message.c_str());
  return 1;
}

pthread_t g_signal_thread;

// Threads started before main() (OpenBLAS's and OpenMP's pools, created by library constructors)
// do not block SIGTERM/SIGINT, so the kernel may deliver the signal to one of them, whose default
// action would kill the process mid-request. This handler runs only on such threads (every thread
// deja starts blocks the signals) and hands the signal to the thread waiting for it in sigwait.
extern "C" void ForwardSignalToWaiter(int signal_number) {
  pthread_kill(g_signal_thread, signal_number);
}

}  // namespace

// Builds the effective options: defaults < config file < environment < flags.
StatusOr<GatewayOptions> ResolveOptions(const std::string& config_flag,
                                        const std::vector<std::string>& settings) {
  GatewayOptions options;
  std::string config = config_flag;
  if (config.empty()) {
    if (const char* env = std::getenv("DEJA_CONFIG"); env != nullptr) config = env;
  }
  struct stat st;
  if (config.empty() && ::stat("deja.toml", &st) == 0) config = "deja.toml";
  if (!config.empty()) DEJA_RETURN_IF_ERROR(ApplyConfigFile(config, &options));
  DEJA_RETURN_IF_ERROR(ApplyEnvironment(&options));
  for (const std::string& s : settings) {
    size_t eq = s.find('=');
    if (eq == std::string::npos)
      return InvalidArgumentError("--set \"" + s + "\" is not KEY=VALUE");
    DEJA_RETURN_IF_ERROR(ApplySetting(s.substr(0, eq), s.substr(eq + 1), &options));
  }
  return options;
}

namespace {

int RunServe(const ServeFlags& flags) {
  std::vector<std::string> settings;
  if (!flags.listen.empty()) settings.push_back("server.listen=" + flags.listen);
  if (!flags.upstream.empty()) settings.push_back("upstream.openai=" + flags.upstream);
  if (!flags.anthropic_upstream.empty()) {
    settings.push_back("upstream.anthropic=" + flags.anthropic_upstream);
  }
  if (!flags.data_dir.empty()) settings.push_back("store.data_dir=" + flags.data_dir);
  if (!flags.admin_token.empty()) settings.push_back("server.admin_token=" + flags.admin_token);
  if (!flags.mode.empty()) settings.push_back("server.mode=" + flags.mode);
  if (!flags.cassette.empty()) settings.push_back("cassette.path=" + flags.cassette);
  if (!flags.used_log.empty()) settings.push_back("cassette.used_log=" + flags.used_log);
  if (flags.semantic) settings.push_back("semantic.enabled=true");
  settings.insert(settings.end(), flags.settings.begin(), flags.settings.end());
  StatusOr<GatewayOptions> options = ResolveOptions(flags.config, settings);
  if (!options.ok()) return Fail(options.status().message());
  if (Status st = options->Validate(); !st.ok()) return Fail(st.message());

  // Signals are taken synchronously by this thread; block them before any other thread starts so
  // that every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  g_signal_thread = pthread_self();
  struct sigaction forward = {};
  forward.sa_handler = ForwardSignalToWaiter;
  sigemptyset(&forward.sa_mask);
  sigaction(SIGTERM, &forward, nullptr);
  sigaction(SIGINT, &forward, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
#ifdef DEJA_HAVE_TCMALLOC
  // Each of the many worker threads would otherwise keep its own free-list cache (32 MiB in all by
  // default, measured as most of deja's anonymous memory); misses are not allocation-bound.
  MallocExtension_SetNumericProperty("tcmalloc.max_total_thread_cache_bytes", 8 << 20);
#endif

  // With a cassette the store is that file: no data directory, and keys use the cassette's fixed
  // secret and shared scope (Gateway::Create), so the deployment secret is not needed.
  std::unique_ptr<Store> lmdb;
  std::unique_ptr<server::CassetteStore> cassette;
  DeploymentSecret data_dir_secret{};
  // The store reports removals here; the gateway attaches once built (with the semantic tier on)
  // so the semantic index drops deleted, purged, expired and evicted entries at once.
  auto removals = std::make_shared<StoreRemovalRelay>();
  if (!options->cassette.path.empty()) {
    server::CassetteStoreOptions co;
    co.path = options->cassette.path;
    co.create_if_missing = options->server.mode != "replay";
    co.redact_pointers = options->cassette.redact_pointers;
    co.used_log = options->cassette.used_log;
    StatusOr<std::unique_ptr<server::CassetteStore>> opened = server::CassetteStore::Open(co);
    if (!opened.ok()) return Fail(opened.status().message());
    cassette = std::move(*opened);
  } else {
    StatusOr<DeploymentSecret> secret = LoadOrCreateDeploymentSecret(options->store.data_dir);
    if (!secret.ok()) return Fail(secret.status().message());
    data_dir_secret = *secret;
    options->store.removal_listener = removals;
    StatusOr<std::unique_ptr<Store>> store = OpenLmdbStore(options->store);
    if (!store.ok()) return Fail("cannot open the store: " + store.status().message());
    lmdb = std::move(*store);
  }
  Store* store = cassette ? static_cast<Store*>(cassette.get()) : lmdb.get();

  server::UpstreamOptions upstream_options;
  upstream_options.connect_timeout_ms = options->upstreams.connect_timeout_ms;
  upstream_options.read_timeout_ms = options->upstreams.read_timeout_ms;
  upstream_options.verify_tls = options->upstreams.verify_tls;
  upstream_options.ca_file = options->upstreams.ca_file;
  StatusOr<std::unique_ptr<server::UpstreamClient>> upstream =
      server::UpstreamClient::Create(upstream_options);
  if (!upstream.ok()) return Fail(upstream.status().message());

  // The semantic tier serves live traffic (and shadow mode's measurement); test modes stay exact.
  std::unique_ptr<semantic::SemanticCache> semantic_cache;
  // A remote embedder down at start: the saved index loads once it answers, on the loader's own
  // thread (semantic_setup.h); until it has, the index is not saved.
  bool semantic_index_deferred = false;
  std::unique_ptr<server::DeferredSemanticIndexLoader> deferred_index;
  if (options->semantic.enabled && !cassette &&
      (options->server.mode == "live" || options->server.mode == "shadow")) {
    StatusOr<std::unique_ptr<semantic::SemanticCache>> opened =
        server::OpenSemanticCache(*options, *store, nullptr, &semantic_index_deferred);
    if (!opened.ok()) return Fail("semantic cache: " + opened.status().message());
    semantic_cache = std::move(*opened);
    std::fprintf(stderr, "deja: semantic cache on (embedder %s, %d dimensions, threshold %.2f)\n",
                 semantic_cache->embedder().name().data(), semantic_cache->embedder().dimensions(),
                 options->semantic.threshold);
    if (semantic_index_deferred) {
      deferred_index =
          std::make_unique<server::DeferredSemanticIndexLoader>(*options, *store, *semantic_cache);
    }
  }
  auto save_semantic = [&] {
    if (!semantic_cache) return;
    if (deferred_index && !deferred_index->loaded()) return;  // the file holds what is to load
    if (Status st = server::SaveSemanticCache(*semantic_cache, *options); !st.ok()) {
      std::fprintf(stderr, "deja: saving the semantic index failed: %s\n", st.ToString().c_str());
    }
  };

  server::GatewayDeps deps;
  deps.semantic = semantic_cache.get();
  deps.store = store;
  deps.cassette = cassette.get();
  deps.upstream = upstream->get();
  deps.secret = data_dir_secret;
  deps.removals = removals.get();
  StatusOr<std::unique_ptr<server::Gateway>> gateway = server::Gateway::Create(*options, deps);
  if (!gateway.ok()) return Fail(gateway.status().message());

  server::HttpServerOptions http;
  http.listen = options->server.listen;
  http.io_threads = options->server.io_threads;
  http.max_body_bytes = static_cast<size_t>(options->server.max_body_bytes);
  http.max_header_bytes = static_cast<size_t>(options->server.max_header_bytes);
  http.max_connections = options->server.max_connections;
  http.idle_timeout_ms = options->server.idle_timeout_ms;
  StatusOr<std::unique_ptr<server::HttpServer>> server =
      server::HttpServer::Start(http, gateway->get());
  if (!server.ok()) return Fail(server.status().message());

  const std::string host = http.listen.substr(0, http.listen.rfind(':'));
  std::printf("deja listening on %s:%d\n", host.c_str(), (*server)->port());
  std::fflush(stdout);
  std::fprintf(stderr, "deja: mode %s; upstreams openai=%s anthropic=%s; %s %s\n",
               options->server.mode.c_str(), options->upstreams.openai.c_str(),
               options->upstreams.anthropic.c_str(), cassette ? "cassette" : "data in",
               cassette ? cassette->path().c_str() : options->store.data_dir.c_str());

  // Shadow mode's report is written into the data directory every interval and once more at the
  // end, so a measurement survives the process.
  server::Gateway& gw = **gateway;
  const std::string report_path = options->store.data_dir + "/shadow-report.json";
  auto write_report = [&] {
    if (gw.shadow_report() == nullptr) return;
    if (Status st = WriteShadowReport(*gw.shadow_report(), report_path); !st.ok()) {
      std::fprintf(stderr, "deja: writing the shadow report failed: %s\n", st.ToString().c_str());
    }
  };
  // Periodic work, each on its own interval, between signals.
  struct PeriodicTask {
    std::chrono::seconds interval;
    std::function<void()> run;
    std::chrono::steady_clock::time_point due;
  };
  std::vector<PeriodicTask> tasks;
  const auto start = std::chrono::steady_clock::now();
  if (gw.shadow_report() != nullptr) {
    const std::chrono::seconds every(options->server.shadow_report_interval_s);
    tasks.push_back({every, write_report, start + every});
  }
  if (deferred_index) {
    // Each attempt (probe, then load or rebuild) runs on the loader's thread: this one stays free
    // for signals and the other tasks.
    const std::chrono::seconds every(server::kDeferredIndexRetrySeconds);
    tasks.push_back({every, [&] { deferred_index->Poll(); }, start + every});
  }
  if (semantic_cache && options->semantic.save_interval_s > 0) {
    const std::chrono::seconds every(options->semantic.save_interval_s);
    tasks.push_back({every, save_semantic, start + every});
  }
  // Expired entries are never served, but they keep their space (and their place in the semantic
  // index) until deleted: sweep them. A cassette never expires anything.
  if (lmdb && options->store.sweep_interval_s > 0) {
    const std::chrono::seconds every(options->store.sweep_interval_s);
    auto sweep = [&] {
      if (StatusOr<int64_t> swept = lmdb->SweepExpired(); !swept.ok()) {
        std::fprintf(stderr, "deja: sweeping expired entries failed: %s\n",
                     swept.status().ToString().c_str());
      }
    };
    tasks.push_back({every, sweep, start + every});
  }
  int signal_number = 0;
  if (tasks.empty()) sigwait(&signals, &signal_number);
  while (!tasks.empty()) {
    auto due = tasks.front().due;
    for (const PeriodicTask& t : tasks) due = std::min(due, t.due);
    const auto wait = std::max<std::chrono::nanoseconds>(std::chrono::nanoseconds(0),
                                                         due - std::chrono::steady_clock::now());
    const timespec timeout{static_cast<time_t>(wait.count() / 1'000'000'000),
                           static_cast<long>(wait.count() % 1'000'000'000)};
    if ((signal_number = sigtimedwait(&signals, nullptr, &timeout)) > 0) break;
    const auto now = std::chrono::steady_clock::now();
    for (PeriodicTask& t : tasks) {
      if (now < t.due) continue;
      t.run();
      t.due = now + t.interval;
    }
  }
  std::fprintf(stderr, "deja: %s received, draining\n",
               signal_number == SIGINT ? "SIGINT" : "SIGTERM");
  // A load in progress stops at its next slice or batch, while the server drains.
  if (deferred_index) deferred_index->RequestStop();
  (*server)->Stop(options->server.shutdown_drain_ms);
  (*gateway)->Drain();
  write_report();
  if (deferred_index && !deferred_index->loaded() && !deferred_index->Stop() &&
      server::LoadDeferredSemanticIndex(*options, *store, *semantic_cache, /*probe=*/false)) {
    deferred_index.reset();  // answers came since the last attempt taught the dimension: merged
  }
  save_semantic();  // not after an interrupted load: the file keeps the whole index
  if (Status st = store->FlushHits(); !st.ok()) {
    std::fprintf(stderr, "deja: flushing hit counts failed: %s\n", st.ToString().c_str());
  }
  gateway->reset();
  deferred_index.reset();
  semantic_cache.reset();
  lmdb.reset();
  cassette.reset();
  std::fprintf(stderr, "deja: stopped\n");
  return 0;
}

}  // namespace

void RegisterServeCommand(CLI::App& app, Runner* run) {
  auto f = std::make_shared<ServeFlags>();
  CLI::App* cmd = app.add_subcommand("serve", "Run the caching gateway");
  cmd->add_option("--config", f->config,
                  "TOML config file (default: $DEJA_CONFIG, else ./deja.toml when present)");
  cmd->add_option("--listen", f->listen, "HOST:PORT to listen on (default 127.0.0.1:8080)");
  cmd->add_option("--upstream", f->upstream,
                  "OpenAI-compatible upstream base URL (default https://api.openai.com)");
  cmd->add_option("--anthropic-upstream", f->anthropic_upstream,
                  "Anthropic upstream base URL (default https://api.anthropic.com)");
  cmd->add_option("--data-dir", f->data_dir, "Data directory (default ./deja-data)");
  cmd->add_option("--admin-token", f->admin_token, "Token for the admin endpoints");
  cmd->add_option("--mode", f->mode,
                  "live (default), record, replay, record-missing or shadow (server.mode; see "
                  "README, Test mode and Shadow mode)");
  cmd->add_option("--cassette", f->cassette,
                  "Keep recordings in this file instead of the data directory (cassette.path)");
  cmd->add_option("--used-log", f->used_log,
                  "Append the key of each record used to this file (cassette.used_log; for "
                  "`deja cassette prune`)");
  cmd->add_flag("--semantic", f->semantic,
                "Turn on the semantic cache (semantic.enabled; README, Semantic cache)");
  cmd->add_option("--set", f->settings, "Any option as SECTION.KEY=VALUE (repeatable)");
  cmd->callback([run, f] { *run = [f] { return RunServe(*f); }; });
}

}  // namespace deja::cli
