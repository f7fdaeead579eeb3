#include "server/semantic_eval_run.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <unordered_map>
#include <unordered_set>

#include "core/json.h"
#include "core/key.h"
#include "deja/gateway_options.h"
#include "deja/store.h"
#include "semantic/semantic_cache.h"
#include "server/gateway.h"
#include "server/http_server.h"
#include "server/semantic_setup.h"
#include "server/upstream_client.h"

namespace deja::server {
namespace {

std::string LastUserText(const json::Value& body) {
  const json::Value* messages = body.Find("messages");
  if (messages == nullptr || !messages->is_array() || messages->as_array().empty()) return "";
  const json::Value* content = messages->as_array().back().Find("content");
  return content != nullptr && content->is_string() ? content->as_string() : "";
}

// The fake provider: every question of a group gets the group's answer.
class GroupAnswerProvider : public HttpHandler {
 public:
  explicit GroupAnswerProvider(const AnswerGroups& truth) : truth_(truth) {}

  void Handle(HttpRequest request, std::shared_ptr<ResponseWriter> writer) override {
    StatusOr<json::Value> body = json::Parse(request.body);
    if (request.path != "/v1/chat/completions" || !body.ok() || !body->is_object()) {
      writer->Send(400, {{"Content-Type", "application/json"}},
                   R"({"error":{"message":"the eval provider only answers chat completions"}})");
      return;
    }
    json::Value message = json::Value::MakeObject();
    message.Set("role", json::Value("assistant"));
    message.Set("content", json::Value(truth_.AnswerFor(LastUserText(*body))));
    json::Value choice = json::Value::MakeObject();
    choice.Set("index", json::Value(0));
    choice.Set("message", std::move(message));
    choice.Set("finish_reason", json::Value("stop"));
    json::Value out = json::Value::MakeObject();
    out.Set("id", json::Value("chatcmpl-eval"));
    out.Set("object", json::Value("chat.completion"));
    out.Set("created", json::Value(1700000000));
    out.Set("model", json::Value(body->GetString("model")));
    json::Array choices;
    choices.push_back(std::move(choice));
    out.Set("choices", json::Value(std::move(choices)));
    // Enough tokens that the admission score takes every novel answer (quality_filter.h).
    out.Set("usage",
            *json::Parse(R"({"prompt_tokens":400,"completion_tokens":400,"total_tokens":800})"));
    writer->Send(200, {{"Content-Type", "application/json"}}, json::Write(out));
  }

 private:
  const AnswerGroups& truth_;
};

struct Reply {
  bool ok = false;
  std::string cache;  // X-Deja-Cache
  double similarity = 0;
  bool template_filled = false;
  std::string answer;       // choices[0].message.content
  std::string key;          // X-Deja-Key (misses)
  std::string matched_key;  // X-Deja-Matched-Key (semantic hits)
};

std::string AnswerOf(const std::string& body) {
  StatusOr<json::Value> doc = json::Parse(body);
  if (!doc.ok() || !doc->is_object()) return "";
  const json::Value* choices = doc->Find("choices");
  if (choices == nullptr || !choices->is_array() || choices->as_array().empty()) return "";
  const json::Value* message = choices->as_array()[0].Find("message");
  if (message == nullptr || !message->is_object()) return "";
  return std::string(message->GetString("content"));
}

std::string RequestBody(const std::string& question) {
  json::Value message = json::Value::MakeObject();
  message.Set("role", json::Value("user"));
  message.Set("content", json::Value(question));
  json::Array messages;
  messages.push_back(std::move(message));
  json::Value body = json::Value::MakeObject();
  body.Set("model", json::Value("gpt-eval"));
  body.Set("messages", json::Value(std::move(messages)));
  body.Set("temperature", json::Value(0));
  return json::Write(body);
}

// Everything one run owns, torn down in reverse order of construction.
class EvalRig {
 public:
  ~EvalRig() {
    if (server_) server_->Stop(1000);
    server_.reset();
    gateway_.reset();
    cache_.reset();
    store_.reset();
    if (provider_server_) provider_server_->Stop(1000);
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }

  Status Start(const AnswerGroups& truth, const SemanticEvalOptions& o) {
    namespace fs = std::filesystem;
    static int serial = 0;
    fs::path parent = o.work_dir.empty() ? fs::temp_directory_path() : fs::path(o.work_dir);
    dir_ = (parent / ("deja_eval_" + std::to_string(::getpid()) + "_" + std::to_string(++serial)))
               .string();
    std::error_code ec;
    fs::remove_all(dir_, ec);

    HttpServerOptions loopback;
    loopback.listen = "127.0.0.1:0";
    loopback.io_threads = 1;
    provider_ = std::make_unique<GroupAnswerProvider>(truth);
    DEJA_ASSIGN_OR_RETURN(provider_server_, HttpServer::Start(loopback, provider_.get()));

    GatewayOptions options;
    options.upstreams.openai = "http://127.0.0.1:" + std::to_string(provider_server_->port());
    options.store.data_dir = dir_;
    options.server.access_log = false;
    options.server.upstream_threads = 4;
    options.semantic.enabled = true;
    options.semantic.embedder = o.embedder;
    options.semantic.model_dir = o.model_dir;
    options.semantic.dimensions = o.dimensions;
    options.semantic.threshold = o.lowest_threshold;
    options.semantic.max_false_hit_rate = o.max_false_hit_rate;  // 1: off, the raw curve
    options.semantic.false_hit_bound = o.false_hit_bound;
    options.semantic.audit_rate = o.audit_rate;
    options.semantic.seed = static_cast<int64_t>(o.seed);
    DEJA_RETURN_IF_ERROR(options.Validate());

    DEJA_ASSIGN_OR_RETURN(store_, OpenLmdbStore(options.store));
    DEJA_ASSIGN_OR_RETURN(std::unique_ptr<semantic::Embedder> embedder,
                          semantic::MakeEmbedder(EmbedderOptionsFrom(options.semantic)));
    cache_ = std::make_unique<semantic::SemanticCache>(SemanticCacheOptionsFrom(options.semantic),
                                                       std::move(embedder));
    DEJA_ASSIGN_OR_RETURN(upstream_, UpstreamClient::Create(UpstreamOptions{}));
    DEJA_ASSIGN_OR_RETURN(client_, UpstreamClient::Create(UpstreamOptions{}));
    GatewayDeps deps;
    deps.store = store_.get();
    deps.upstream = upstream_.get();
    deps.semantic = cache_.get();
    deps.secret[0] = 0xe7;
    DEJA_ASSIGN_OR_RETURN(gateway_, Gateway::Create(options, deps));
    loopback.io_threads = 2;
    DEJA_ASSIGN_OR_RETURN(server_, HttpServer::Start(loopback, gateway_.get()));
    return Status::Ok();
  }

  Reply Ask(const std::string& question, Headers headers) {
    UpstreamRequest req;
    req.base_url = "http://127.0.0.1:" + std::to_string(server_->port());
    req.method = "POST";
    req.target = "/v1/chat/completions";
    req.headers = std::move(headers);
    req.headers.emplace_back("Content-Type", "application/json");
    req.headers.emplace_back("Authorization", "Bearer deja-eval");
    req.body = RequestBody(question);
    int code = 0;
    Headers head;
    std::string body;
    Status st = client_->Send(
        req,
        [&](const UpstreamResponseHead& h) {
          code = h.status;
          head = h.headers;
          return true;
        },
        [&](std::string_view data) {
          body.append(data);
          return true;
        });
    gateway_->WaitIdle();  // the store write and the admission of a miss happen after the answer
    Reply r;
    r.ok = st.ok() && code == 200;
    r.cache = std::string(FindHeader(head, "X-Deja-Cache"));
    const std::string sim(FindHeader(head, "X-Deja-Similarity"));
    if (!sim.empty()) r.similarity = std::strtod(sim.c_str(), nullptr);
    r.template_filled = !FindHeader(head, "X-Deja-Template").empty();
    r.key = std::string(FindHeader(head, "X-Deja-Key"));
    r.matched_key = std::string(FindHeader(head, "X-Deja-Matched-Key"));
    r.answer = AnswerOf(body);
    return r;
  }

  const SemanticMetrics& metrics() const { return gateway_->semantic_metrics(); }
  const semantic::SemanticCache& cache() const { return *cache_; }

 private:
  std::string dir_;
  std::unique_ptr<GroupAnswerProvider> provider_;
  std::unique_ptr<HttpServer> provider_server_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<semantic::SemanticCache> cache_;
  std::unique_ptr<UpstreamClient> upstream_;
  std::unique_ptr<UpstreamClient> client_;
  std::unique_ptr<Gateway> gateway_;
  std::unique_ptr<HttpServer> server_;
};

std::string Decimal(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", v);
  return buf;
}

}  // namespace

StatusOr<SemanticEvalRun> RunSemanticEval(const std::vector<EvalPair>& pairs,
                                          const AnswerGroups& truth,
                                          const SemanticEvalOptions& options) {
  EvalRig rig;
  DEJA_RETURN_IF_ERROR(rig.Start(truth, options));
  SemanticEvalRun run;
  run.embedder = std::string(rig.cache().embedder().name());
  run.dimensions = rig.cache().embedder().dimensions();
  run.shared_context = options.shared_context;
  run.max_false_hit_rate = options.max_false_hit_rate;
  run.false_hit_bound = options.max_false_hit_rate < 1 ? options.false_hit_bound : "off";
  run.observations.reserve(pairs.size());
  std::unordered_multiset<int64_t> indexed_groups;      // shared context: groups of admitted a's
  std::unordered_map<std::string, size_t> pair_of_key;  // stored a's key -> its pair
  std::vector<double> b_us;
  b_us.reserve(pairs.size());
  const std::string lowest = Decimal(options.lowest_threshold);
  const auto start = std::chrono::steady_clock::now();

  for (size_t i = 0; i < pairs.size(); ++i) {
    const EvalPair& p = pairs[i];
    Headers context;
    if (!options.shared_context)
      context.emplace_back("X-Deja-Namespace", "pair-" + std::to_string(i));

    const int64_t admitted_before = rig.metrics().Get(SemanticMetrics::kAdmitted);
    const int64_t refused_before = rig.metrics().Get(SemanticMetrics::kNotAdmitted);
    Headers a_headers = context;
    a_headers.emplace_back("X-Deja-Similarity", "1");
    const Reply a = rig.Ask(p.a, std::move(a_headers));
    const bool a_admitted = rig.metrics().Get(SemanticMetrics::kAdmitted) > admitted_before;
    if (!a.ok) ++run.errors;
    if (a.cache == "hit")
      ++run.a_exact_hits;
    else if (a.cache == "semantic-hit")
      ++run.a_semantic_hits;
    else
      ++run.a_misses;
    if (a_admitted) ++run.a_admitted;
    if (rig.metrics().Get(SemanticMetrics::kNotAdmitted) > refused_before) ++run.a_not_admitted;
    if (a_admitted && options.shared_context) indexed_groups.insert(truth.GroupOf(p.a));
    if (!a.key.empty()) pair_of_key.try_emplace(a.key, i);

    const int64_t guards_before = rig.metrics().Get(SemanticMetrics::kGuardRejections);
    Headers b_headers = context;
    b_headers.emplace_back("X-Deja-Similarity", lowest);
    b_headers.emplace_back("Cache-Control", "no-store");  // the index holds a questions only
    const auto b_start = std::chrono::steady_clock::now();
    const Reply b = rig.Ask(p.b, std::move(b_headers));
    b_us.push_back(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - b_start)
            .count());
    run.guard_rejections += rig.metrics().Get(SemanticMetrics::kGuardRejections) - guards_before;
    if (!b.ok) ++run.errors;

    EvalObservation obs;
    obs.duplicate = p.duplicate;
    const int64_t b_group = truth.GroupOf(p.b);
    obs.reachable =
        b_group >= 0 && (options.shared_context ? indexed_groups.count(b_group) > 0
                                                : a_admitted && truth.GroupOf(p.a) == b_group);
    if (b.cache == "semantic-hit") {
      ++run.b_semantic_hits;
      if (b.template_filled) ++run.template_fills;
      obs.semantic_hit = true;
      obs.similarity = b.similarity;
      obs.correct = b.ok && b.answer == truth.AnswerFor(p.b);
      if (obs.correct) obs.reachable = true;  // an entry with b's answer was evidently there
      if (auto it = pair_of_key.find(b.matched_key); it != pair_of_key.end()) {
        obs.matched_pair = static_cast<int64_t>(it->second);
        obs.cross_match = pairs[it->second].a != p.a;
      }
      if (!obs.correct) {
        run.false_hit_examples.push_back(
            FalseHitExample{p.b, obs.matched_pair >= 0 ? pairs[obs.matched_pair].a : std::string(),
                            b.similarity, obs.cross_match});
      }
    } else if (b.cache == "semantic-verify") {
      ++run.b_verified;
      obs.verified = true;
    } else if (b.cache == "hit") {
      ++run.b_exact_hits;
      obs.exact_hit = true;
    } else {
      ++run.b_misses;
    }
    run.observations.push_back(obs);
    if (options.progress) options.progress(i + 1, pairs.size());
  }

  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  run.index_entries = static_cast<int64_t>(rig.cache().size());
  run.audits = rig.metrics().Get(SemanticMetrics::kAuditCorrect) +
               rig.metrics().Get(SemanticMetrics::kAuditWrong);
  run.audit_false = rig.metrics().Get(SemanticMetrics::kAuditWrong);
  run.pooled_observations = rig.cache().pooled_observations();
  std::stable_sort(run.false_hit_examples.begin(), run.false_hit_examples.end(),
                   [](const FalseHitExample& x, const FalseHitExample& y) {
                     return x.similarity > y.similarity;
                   });
  if (run.false_hit_examples.size() > 30) run.false_hit_examples.resize(30);
  if (!b_us.empty()) {
    std::nth_element(b_us.begin(), b_us.begin() + b_us.size() / 2, b_us.end());
    run.b_median_us = b_us[b_us.size() / 2];
  }
  return run;
}

namespace {

json::Value Rounded(double v) { return json::Value(std::round(v * 1e4) / 1e4); }

json::Value PointToJson(const CurvePoint& p) {
  json::Value o = json::Value::MakeObject();
  o.Set("threshold", Rounded(p.threshold));
  o.Set("hits", json::Value(p.hits));
  o.Set("false_hits", json::Value(p.false_hits));
  o.Set("hit_rate", Rounded(p.hit_rate));
  o.Set("false_hit_rate", Rounded(p.false_hit_rate));
  o.Set("false_hits_per_request", Rounded(p.false_hits_per_request));
  o.Set("recall", Rounded(p.recall));
  o.Set("cross_hits", json::Value(p.cross_hits));
  o.Set("cross_false_hits", json::Value(p.cross_false_hits));
  return o;
}

json::Value VerifiedToJson(const VerifiedSegment& s) {
  json::Value o = json::Value::MakeObject();
  o.Set("requests", json::Value(s.requests));
  o.Set("served", json::Value(s.served));
  o.Set("false_hits", json::Value(s.false_hits));
  o.Set("verified", json::Value(s.verified));
  o.Set("hit_rate", Rounded(s.hit_rate));
  o.Set("false_hit_rate", Rounded(s.false_hit_rate));
  o.Set("false_per_lookup", Rounded(s.false_per_lookup));
  return o;
}

void AddExamples(const SemanticEvalRun& run, json::Value* o) {
  json::Value examples = json::Value::MakeArray();
  for (const FalseHitExample& e : run.false_hit_examples) {
    json::Value x = json::Value::MakeObject();
    x.Set("similarity", Rounded(e.similarity));
    x.Set("question", json::Value(e.question));
    x.Set("matched", json::Value(e.matched));
    x.Set("cross_match", json::Value(e.cross_match));
    examples.Push(std::move(x));
  }
  o->Set("false_hit_examples", std::move(examples));
}

}  // namespace

json::Value EvalRunToJson(const SemanticEvalRun& run, std::span<const double> thresholds,
                          std::span<const double> targets) {
  json::Value o = json::Value::MakeObject();
  o.Set("embedder", json::Value(run.embedder));
  o.Set("dimensions", json::Value(run.dimensions));
  o.Set("context", json::Value(run.shared_context ? "shared" : "isolated"));
  o.Set("max_false_hit_rate", json::Value(run.max_false_hit_rate));
  o.Set("false_hit_bound", json::Value(run.false_hit_bound));
  o.Set("pairs", json::Value(static_cast<int64_t>(run.observations.size())));
  int64_t reachable = 0;
  for (const EvalObservation& obs : run.observations) reachable += obs.reachable ? 1 : 0;
  json::Value counts = json::Value::MakeObject();
  counts.Set("a_misses", json::Value(run.a_misses));
  counts.Set("a_exact_hits", json::Value(run.a_exact_hits));
  counts.Set("a_semantic_hits", json::Value(run.a_semantic_hits));
  counts.Set("a_admitted", json::Value(run.a_admitted));
  counts.Set("a_not_admitted", json::Value(run.a_not_admitted));
  counts.Set("b_misses", json::Value(run.b_misses));
  counts.Set("b_exact_hits", json::Value(run.b_exact_hits));
  counts.Set("b_semantic_hits", json::Value(run.b_semantic_hits));
  counts.Set("b_verified", json::Value(run.b_verified));
  counts.Set("audits", json::Value(run.audits));
  counts.Set("audit_false", json::Value(run.audit_false));
  counts.Set("pooled_observations", json::Value(run.pooled_observations));
  counts.Set("b_reachable", json::Value(reachable));
  counts.Set("guard_rejections", json::Value(run.guard_rejections));
  counts.Set("template_fills", json::Value(run.template_fills));
  counts.Set("errors", json::Value(run.errors));
  counts.Set("index_entries", json::Value(run.index_entries));
  o.Set("counts", std::move(counts));
  o.Set("seconds", json::Value(std::round(run.seconds * 10) / 10));
  o.Set("b_median_us", json::Value(std::round(run.b_median_us)));
  if (run.max_false_hit_rate < 1) {
    // Verification on: served hits depend on the gateway's decisions, not on a threshold alone.
    const VerifiedSummary v = SummarizeVerified(run.observations, 4);
    o.Set("verified", VerifiedToJson(v.total));
    json::Value parts = json::Value::MakeArray();
    for (const VerifiedSegment& s : v.segments) parts.Push(VerifiedToJson(s));
    o.Set("verified_by_quarter", std::move(parts));
    AddExamples(run, &o);
    return o;
  }
  const std::vector<CurvePoint> curve = ComputeCurve(run.observations, thresholds);
  json::Value best = json::Value::MakeObject();
  for (double target : targets) {
    std::optional<CurvePoint> p = BestUnder(curve, target);
    char name[32];
    std::snprintf(name, sizeof name, "%g", target);
    best.Set(name, p ? PointToJson(*p) : json::Value());
  }
  o.Set("best", std::move(best));
  // At least 20 hits (or 1% of the pairs), so one lucky hit does not make a 0% point.
  const int64_t min_hits =
      std::max<int64_t>(20, static_cast<int64_t>(run.observations.size()) / 100);
  std::optional<CurvePoint> lowest = LowestFalseHitRate(curve, min_hits);
  o.Set("lowest_false_hit_rate", lowest ? PointToJson(*lowest) : json::Value());
  o.Set("lowest_min_hits", json::Value(min_hits));
  AddExamples(run, &o);
  json::Value points = json::Value::MakeArray();
  for (const CurvePoint& p : curve) points.Push(PointToJson(p));
  o.Set("curve", std::move(points));
  return o;
}

}  // namespace deja::server
