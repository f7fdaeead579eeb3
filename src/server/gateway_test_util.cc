#include "server/gateway_test_util.h"

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
  const std::string text = "answer to " + LastUserText(body);
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

}  // namespace deja::server::testing
