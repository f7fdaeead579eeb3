// Record <-> JSON and redaction. File rendering and I/O are in cassette_file.cc.
#include <cmath>

#include "server/cassette_format.h"

namespace deja::server {
namespace {

bool ValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    const size_t len = c < 0x80           ? 1
                       : (c >> 5) == 0x6  ? 2
                       : (c >> 4) == 0xe  ? 3
                       : (c >> 3) == 0x1e ? 4
                                          : 0;
    if (len == 0 || i + len > s.size()) return false;
    uint32_t cp = len == 1 ? c : c & (0xff >> (len + 1));
    for (size_t j = 1; j < len; ++j) {
      const unsigned char cc = static_cast<unsigned char>(s[i + j]);
      if ((cc >> 6) != 0x2) return false;
      cp = cp << 6 | (cc & 0x3f);
    }
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += len;
  }
  return true;
}

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string Base64(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  for (size_t i = 0; i < in.size(); i += 3) {
    uint32_t n = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) n |= static_cast<unsigned char>(in[i + 1]) << 8;
    if (i + 2 < in.size()) n |= static_cast<unsigned char>(in[i + 2]);
    out += kB64[n >> 18 & 63];
    out += kB64[n >> 12 & 63];
    out += i + 1 < in.size() ? kB64[n >> 6 & 63] : '=';
    out += i + 2 < in.size() ? kB64[n & 63] : '=';
  }
  return out;
}

StatusOr<std::string> Unbase64(std::string_view in) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=') break;
    const char* p = std::char_traits<char>::find(kB64, 64, c);
    if (p == nullptr) return InvalidArgumentError("bad base64 character");
    acc = acc << 6 | static_cast<uint32_t>(p - kB64);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>(acc >> bits & 0xff);
    }
  }
  return out;
}

// An integer a double cannot hold exactly: embedding such a body as JSON would change its digits.
bool HasUnsafeInteger(const json::Value& v) {
  if (v.is_number()) {
    const double d = v.as_number();
    return std::fabs(d) >= 9007199254740992.0 && d == std::floor(d);
  }
  if (v.is_array()) {
    for (const json::Value& e : v.as_array()) {
      if (HasUnsafeInteger(e)) return true;
    }
  } else if (v.is_object()) {
    for (const auto& [name, child] : v.as_object()) {
      if (HasUnsafeInteger(child)) return true;
    }
  }
  return false;
}

// Sets `name` (JSON), `name_text` or `name_base64`, whichever keeps `text` exactly readable.
void EmbedText(std::string_view text, const std::string& name, json::Value* obj) {
  if (!text.empty()) {
    StatusOr<json::Value> v = json::Parse(text);
    if (v.ok() && !HasUnsafeInteger(*v)) {
      obj->Set(name, std::move(*v));
      return;
    }
  }
  if (ValidUtf8(text)) {
    obj->Set(name + "_text", json::Value(text));
  } else {
    obj->Set(name + "_base64", json::Value(Base64(text)));
  }
}

// The inverse of EmbedText. NotFound when none of the three members is present.
StatusOr<std::string> ExtractText(const json::Value& obj, const std::string& name) {
  if (const json::Value* v = obj.Find(name)) return json::Write(*v);
  if (const json::Value* v = obj.Find(name + "_text")) {
    if (!v->is_string()) return InvalidArgumentError(name + "_text must be a string");
    return v->as_string();
  }
  if (const json::Value* v = obj.Find(name + "_base64")) {
    if (!v->is_string()) return InvalidArgumentError(name + "_base64 must be a string");
    return Unbase64(v->as_string());
  }
  return NotFoundError("missing \"" + name + "\"");
}

StatusOr<int64_t> GetInt(const json::Value& obj, std::string_view name, int64_t fallback) {
  const json::Value* v = obj.Find(name);
  if (v == nullptr) return fallback;
  if (!v->is_number() || v->as_number() != std::floor(v->as_number())) {
    return InvalidArgumentError("\"" + std::string(name) + "\" must be a whole number");
  }
  return static_cast<int64_t>(v->as_number());
}

void RedactAt(json::Value* v, const RedactPointer& p, size_t depth) {
  if (depth == p.size()) {
    *v = json::Value(kRedacted);
    return;
  }
  const std::string& seg = p[depth];
  if (v->is_object()) {
    for (auto& [name, child] : v->as_object()) {
      if (seg == "*" || name == seg) RedactAt(&child, p, depth + 1);
    }
  } else if (v->is_array()) {
    json::Array& a = v->as_array();
    for (size_t i = 0; i < a.size(); ++i) {
      if (seg == "*" || seg == std::to_string(i)) RedactAt(&a[i], p, depth + 1);
    }
  }
}

}  // namespace

const DeploymentSecret& CassetteSecret() {
  // Not a secret at all, by design: cassette keys must be reproducible on every machine.
  static const DeploymentSecret kSecret = [] {
    DeploymentSecret s{};
    constexpr std::string_view kLabel = "deja cassette key secret v1";
    for (size_t i = 0; i < s.size(); ++i) s[i] = static_cast<uint8_t>(kLabel[i % kLabel.size()]);
    return s;
  }();
  return kSecret;
}

json::Value RecordToJson(const CassetteRecord& record) {
  const Entry& e = record.entry;
  json::Value out = json::Value::MakeObject();
  out.Set("key", json::Value(e.key.Hex()));
  out.Set("route", json::Value(e.meta.route));
  out.Set("namespace", json::Value(e.meta.name_space));
  if (!record.keyed_headers.empty()) {
    StatusOr<json::Value> h = json::Parse(record.keyed_headers);
    if (h.ok()) out.Set("headers", std::move(*h));
  }
  EmbedText(e.canonical_request, "request", &out);
  const CachedResponse& r = e.response;
  json::Value resp = json::Value::MakeObject();
  resp.Set("status", json::Value(r.status));
  resp.Set("content_type", json::Value(r.content_type));
  if (r.streamed) {
    json::Value events = json::Value::MakeArray();
    for (const StreamEvent& ev : r.events) {
      json::Value o = json::Value::MakeObject();
      if (!ev.event.empty()) o.Set("event", json::Value(ev.event));
      EmbedText(ev.data, "data", &o);
      events.Push(std::move(o));
    }
    resp.Set("events", std::move(events));
  } else {
    EmbedText(r.body, "body", &resp);
  }
  out.Set("response", std::move(resp));
  json::Value meta = json::Value::MakeObject();
  meta.Set("recorded_at", json::Value(FormatIsoMillis(e.meta.created_at_ms)));
  meta.Set("model", json::Value(e.meta.model));
  meta.Set("input_tokens", json::Value(e.meta.input_tokens));
  meta.Set("output_tokens", json::Value(e.meta.output_tokens));
  out.Set("meta", std::move(meta));
  return out;
}

StatusOr<CassetteRecord> RecordFromJson(const json::Value& v) {
  if (!v.is_object()) return InvalidArgumentError("a record must be an object");
  CassetteRecord out;
  Entry& e = out.entry;
  StatusOr<CacheKey> key = CacheKey::FromHex(v.GetString("key"));
  if (!key.ok()) return InvalidArgumentError("\"key\" must be 64 hex digits");
  e.key = *key;
  const std::string where = "record " + e.key.Hex() + ": ";
  const json::Value* route = v.Find("route");
  if (route == nullptr || !route->is_string()) {
    return InvalidArgumentError(where + "\"route\" must be a string");
  }
  e.meta.route = route->as_string();
  e.meta.name_space = std::string(v.GetString("namespace"));
  if (const json::Value* h = v.Find("headers");
      h != nullptr && h->is_object() && !h->as_object().empty()) {
    out.keyed_headers = json::WriteCanonical(*h);
  }
  if (const json::Value* req = v.Find("request")) {
    e.canonical_request = json::WriteCanonical(*req);
  } else {
    StatusOr<std::string> text = ExtractText(v, "request");
    if (!text.ok()) return InvalidArgumentError(where + text.status().message());
    e.canonical_request = std::move(*text);
  }
  const json::Value* resp = v.Find("response");
  if (resp == nullptr || !resp->is_object()) {
    return InvalidArgumentError(where + "\"response\" must be an object");
  }
  StatusOr<int64_t> status = GetInt(*resp, "status", 200);
  if (!status.ok()) return InvalidArgumentError(where + "response: " + status.status().message());
  e.response.status = static_cast<int>(*status);
  e.response.content_type = std::string(resp->GetString("content_type"));
  if (const json::Value* events = resp->Find("events")) {
    if (!events->is_array()) return InvalidArgumentError(where + "\"events\" must be an array");
    e.response.streamed = true;
    for (const json::Value& ev : events->as_array()) {
      if (!ev.is_object()) return InvalidArgumentError(where + "each event must be an object");
      StatusOr<std::string> data = ExtractText(ev, "data");
      if (!data.ok()) return InvalidArgumentError(where + "event: " + data.status().message());
      e.response.events.push_back(StreamEvent{std::string(ev.GetString("event")), *data});
    }
  } else {
    StatusOr<std::string> body = ExtractText(*resp, "body");
    if (!body.ok()) return InvalidArgumentError(where + "response: " + body.status().message());
    e.response.body = std::move(*body);
  }
  if (const json::Value* meta = v.Find("meta"); meta != nullptr && meta->is_object()) {
    if (const json::Value* at = meta->Find("recorded_at"); at != nullptr && at->is_string()) {
      StatusOr<int64_t> ms = ParseIsoMillis(at->as_string());
      if (!ms.ok())
        return InvalidArgumentError(where + "meta.recorded_at: " + ms.status().message());
      e.meta.created_at_ms = *ms;
    }
    e.meta.model = std::string(meta->GetString("model"));
    DEJA_ASSIGN_OR_RETURN(e.meta.input_tokens, GetInt(*meta, "input_tokens", 0));
    DEJA_ASSIGN_OR_RETURN(e.meta.output_tokens, GetInt(*meta, "output_tokens", 0));
  }
  return out;
}

StatusOr<std::vector<RedactPointer>> ParseRedactPointers(const std::vector<std::string>& pointers) {
  std::vector<RedactPointer> out;
  for (const std::string& text : pointers) {
    if (text.rfind("/request/", 0) != 0 && text.rfind("/response/", 0) != 0) {
      return InvalidArgumentError("cassette.redact_pointers: \"" + text +
                                  "\" must start with /request/ or /response/ (pointers are into "
                                  "the cassette record, e.g. /response/body/id)");
    }
    RedactPointer p;
    size_t pos = 1;
    while (pos <= text.size()) {
      size_t end = text.find('/', pos);
      if (end == std::string::npos) end = text.size();
      std::string seg;
      for (size_t i = pos; i < end; ++i) {
        if (text[i] != '~') {
          seg += text[i];
        } else if (i + 1 < end && (text[i + 1] == '0' || text[i + 1] == '1')) {
          seg += text[++i] == '0' ? '~' : '/';
        } else {
          return InvalidArgumentError("cassette.redact_pointers: \"" + text +
                                      "\" has a bad '~' escape");
        }
      }
      p.push_back(std::move(seg));
      pos = end + 1;
    }
    out.push_back(std::move(p));
  }
  return out;
}

void Redact(const std::vector<RedactPointer>& pointers, json::Value* record) {
  for (const RedactPointer& p : pointers) RedactAt(record, p, 0);
}

}  // namespace deja::server
