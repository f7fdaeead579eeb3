#include "server/gateway_test_util.h"

#include <unistd.h>

#include <chrono>

#include "server/sse.h"

namespace deja::server::testing {
namespace {

std::string LastUserText(const json::Value& body) {
  const json::Value* messages = body.Find("messages");
  if (messages == nullptr || !messages->is_array() || messages->as_array().empty()) return "";
  const json::Value& last = messages->as_array().back();
  const json::Value* content = last.Find("content");
  return content != nullptr && content->is_string() ? content->as_string() : "";
}

std::string Sse(const std::string& data) {
  std::string out;
  AppendSse(StreamEvent{"", data}, &out);
  return out;
}

}  // namespace

FakeProvider::~FakeProvider() {
  Release();
  for (std::thread& t : threads_) t.join();
}

Headers FakeProvider::last_headers() const {
  std::lock_guard lock(mu_);
  return last_headers_;
}

std::string FakeProvider::last_body() const {
  std::lock_guard lock(mu_);
  return last_body_;
}

bool FakeProvider::WaitGated(int n) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, std::chrono::seconds(10), [&] { return gated_ >= n; });
}

void FakeProvider::Release() {
  std::lock_guard lock(mu_);
  released_ = true;
  cv_.notify_all();
}

void FakeProvider::Handle(HttpRequest request, std::shared_ptr<ResponseWriter> writer) {
  calls_.fetch_add(1);
  {
    std::lock_guard lock(mu_);
    last_headers_ = request.headers;
    last_body_ = request.body;
  }
  StatusOr<json::Value> body = json::Parse(request.body.empty() ? "{}" : request.body);
  std::string model = body.ok() ? std::string(body->GetString("model")) : "";
  if (model == "gated") {
    std::lock_guard lock(mu_);
    ++gated_;
    cv_.notify_all();
    threads_.emplace_back([this, request = std::move(request), writer, model] {
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return released_; });
      }
      Answer(request, *writer, model);
    });
    return;
  }
  Answer(request, *writer, model);
}

void FakeProvider::Answer(const HttpRequest& request, ResponseWriter& writer,
                          const std::string& model) {
  const int n = serial_.fetch_add(1);
  if (request.path == "/v1/models") {
    writer.Send(200, {{"Content-Type", "application/json"}}, R"({"object":"list","data":[]})");
    return;
  }
  if (model == "error") {
    writer.Send(500, {{"Content-Type", "application/json"}},
                R"({"error":{"message":"boom","type":"server_error","param":null,"code":null}})");
    return;
  }
  json::Value body = *json::Parse(request.body);
  // "varying" answers each call differently (a provider that is not deterministic).
  std::string text =
      "answer to " + LastUserText(body) + (model == "varying" ? " #" + std::to_string(n) : "");
  if (model == "constant") {
    std::lock_guard lock(mu_);
    text = constant_answer_;
  }
  const json::Value* stream = body.Find("stream");
  const bool streaming = stream != nullptr && stream->is_bool() && stream->as_bool();
  const std::string id = "chatcmpl-" + std::to_string(n);
  if (!streaming) {
    json::Value message = json::Value::MakeObject();
    message.Set("role", json::Value("assistant"));
    message.Set("content", json::Value(text));
    json::Value choice = json::Value::MakeObject();
    choice.Set("index", json::Value(0));
    choice.Set("message", std::move(message));
    choice.Set("finish_reason", json::Value("stop"));
    json::Value out = json::Value::MakeObject();
    out.Set("id", json::Value(id));
    out.Set("object", json::Value("chat.completion"));
    out.Set("created", json::Value(1700000000 + n));
    out.Set("model", json::Value(model));
    json::Array choices;
    choices.push_back(std::move(choice));
    out.Set("choices", json::Value(std::move(choices)));
    out.Set("usage",
            *json::Parse(R"({"prompt_tokens":5,"completion_tokens":7,"total_tokens":12})"));
    writer.Send(200, {{"Content-Type", "application/json"}}, json::Write(out));
    return;
  }
  bool usage = false;
  if (const json::Value* so = body.Find("stream_options"); so != nullptr && so->is_object()) {
    const json::Value* iu = so->Find("include_usage");
    usage = iu != nullptr && iu->is_bool() && iu->as_bool();
  }
  const std::string head = R"({"id":")" + id +
                           R"(","object":"chat.completion.chunk","created":1700000000,"model":")" +
                           model + R"(","choices":)";
  const std::string tail = usage ? R"(,"usage":null})" : "}";
  writer.StartStream(200, {{"Content-Type", "text/event-stream"}});
  writer.Write(
      Sse(head + R"([{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}])" +
          tail));
  std::string piece;
  json::AppendQuoted(text, &piece);
  writer.Write(Sse(head + R"([{"index":0,"delta":{"content":)" + piece +
                   R"(},"finish_reason":null}])" + tail));
  if (model == "truncate") return;  // dropping the writer mid-stream cuts the connection
  writer.Write(Sse(head + R"([{"index":0,"delta":{},"finish_reason":"stop"}])" + tail));
  if (usage) {
    writer.Write(
        Sse(head + R"([],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}})"));
  }
  writer.Write(Sse("[DONE]"));
  writer.Finish();
}

ClientResponse Call(UpstreamClient& client, int port, const std::string& method,
                    const std::string& path, const std::string& body, Headers headers) {
  UpstreamRequest req;
  req.base_url = "http://127.0.0.1:" + std::to_string(port);
  req.method = method;
  req.target = path;
  req.headers = std::move(headers);
  if (!body.empty()) req.headers.emplace_back("Content-Type", "application/json");
  req.body = body;
  ClientResponse out;
  out.status = client.Send(
      req,
      [&](const UpstreamResponseHead& head) {
        out.code = head.status;
        out.headers = head.headers;
        return true;
      },
      [&](std::string_view data) {
        out.body.append(data);
        return true;
      });
  return out;
}

namespace {

HttpServerOptions LoopbackOptions() {
  HttpServerOptions o;
  o.listen = "127.0.0.1:0";
  o.io_threads = 2;
  return o;
}

}  // namespace

void GatewayFixture::SetUp() {
  dir_ = (std::filesystem::temp_directory_path() /
          ("deja_gateway_test_" + std::to_string(::getpid()) + "_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name()))
             .string();
  std::filesystem::remove_all(dir_);
  auto provider_server = HttpServer::Start(LoopbackOptions(), &provider_);
  ASSERT_TRUE(provider_server.ok());
  provider_server_ = std::move(*provider_server);
}

void GatewayFixture::Start(GatewayOptions options, Store* store_override) {
  const std::string upstream = "http://127.0.0.1:" + std::to_string(provider_server_->port());
  if (options.upstreams.openai == UpstreamsOptions{}.openai) options.upstreams.openai = upstream;
  options.upstreams.anthropic = upstream;
  options.store.data_dir = dir_;
  options.store.clock = &clock_;
  options.server.access_log = false;
  options.server.upstream_threads = 8;
  GatewayDeps deps;
  if (!options.cassette.path.empty()) {
    CassetteStoreOptions co;
    co.path = options.cassette.path;
    co.create_if_missing = options.server.mode != "replay";
    co.redact_pointers = options.cassette.redact_pointers;
    co.used_log = options.cassette.used_log;
    auto cassette = CassetteStore::Open(co);
    ASSERT_TRUE(cassette.ok()) << cassette.status().ToString();
    cassette_ = std::move(*cassette);
    deps.cassette = cassette_.get();
  } else {
    removals_ = follow_removals_ ? std::make_shared<StoreRemovalRelay>() : nullptr;
    options.store.removal_listener = removals_;
    auto store = OpenLmdbStore(options.store);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    deps.removals = removals_.get();
    store_ = std::move(*store);
    deps.store = store_override != nullptr ? store_override : store_.get();
  }
  if (semantic_factory_ && options.semantic.enabled && deps.store != nullptr) {
    semantic_ = semantic_factory_(options, *deps.store);
    deps.semantic = semantic_.get();
  }
  deps.upstream = &upstream_;
  deps.clock = &clock_;
  deps.secret[0] = 42;
  auto gateway = Gateway::Create(options, deps);
  ASSERT_TRUE(gateway.ok()) << gateway.status().ToString();
  gateway_ = std::move(*gateway);
  auto server = HttpServer::Start(LoopbackOptions(), gateway_.get());
  ASSERT_TRUE(server.ok());
  server_ = std::move(*server);
}

void GatewayFixture::Stop() {
  if (server_) server_->Stop(1000);
  server_.reset();
  gateway_.reset();
  semantic_.reset();
  store_.reset();
  cassette_.reset();
}

void GatewayFixture::TearDown() {
  Stop();
  provider_.Release();
  provider_server_->Stop(1000);
  std::filesystem::remove_all(dir_);
  for (const std::string& f : temp_files_) std::filesystem::remove(f);
}

ClientResponse GatewayFixture::Post(const std::string& path, const std::string& body,
                                    Headers headers) {
  ClientResponse r = Call(client_, server_->port(), "POST", path, body, std::move(headers));
  gateway_->WaitIdle();
  return r;
}

ClientResponse GatewayFixture::Chat(const std::string& body, Headers headers) {
  return Post("/v1/chat/completions", body, std::move(headers));
}

ClientResponse GatewayFixture::Chat() { return Chat(kChat); }

}  // namespace deja::server::testing
