#include "store/entry_codec.h"

#include <cstring>
#include <limits>
#include <utility>

namespace deja::codec {
namespace {

constexpr int kMetaInts = 8;
constexpr size_t kMaxString = std::numeric_limits<uint32_t>::max();

class Writer {
 public:
  explicit Writer(size_t reserve) { out_.reserve(reserve); }
  void U8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void U32(uint32_t v) {
    for (int i = 0; i < 4; ++i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  void I64(int64_t v) {
    uint64_t u = static_cast<uint64_t>(v);
    for (int i = 0; i < 8; ++i) out_.push_back(static_cast<char>((u >> (8 * i)) & 0xff));
  }
  // Strings over 4 GiB cannot occur in a cache entry (LMDB values are far smaller); truncating the
  // length would corrupt the record, so such a string is recorded as empty instead.
  void Str(std::string_view s) {
    if (s.size() > kMaxString) s = {};
    U32(static_cast<uint32_t>(s.size()));
    out_.append(s);
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

// Reads from a bounded buffer; every accessor checks the remaining length first and latches
// failure.
class Reader {
 public:
  explicit Reader(std::string_view data) : p_(data.data()), n_(data.size()) {}
  bool U8(uint8_t* v) {
    if (n_ < 1) return Fail();
    *v = static_cast<uint8_t>(*p_);
    Skip(1);
    return true;
  }
  bool U32(uint32_t* v) {
    if (n_ < 4) return Fail();
    uint32_t r = 0;
    for (int i = 0; i < 4; ++i) r |= uint32_t{static_cast<uint8_t>(p_[i])} << (8 * i);
    *v = r;
    Skip(4);
    return true;
  }
  bool I64(int64_t* v) {
    if (n_ < 8) return Fail();
    uint64_t r = 0;
    for (int i = 0; i < 8; ++i) r |= uint64_t{static_cast<uint8_t>(p_[i])} << (8 * i);
    *v = static_cast<int64_t>(r);
    Skip(8);
    return true;
  }
  bool View(std::string_view* s) {
    uint32_t len;
    if (!U32(&len)) return false;
    if (len > n_) return Fail();
    *s = std::string_view(p_, len);
    Skip(len);
    return true;
  }
  bool Str(std::string* s) {
    std::string_view v;
    if (!View(&v)) return false;
    s->assign(v.data(), v.size());
    return true;
  }
  size_t remaining() const { return n_; }

 private:
  bool Fail() {
    n_ = 0;
    return false;
  }
  void Skip(size_t k) {
    p_ += k;
    n_ -= k;
  }
  const char* p_;
  size_t n_;
};

Status Corrupt(std::string_view what, std::string_view why) {
  return DataLossError("corrupt " + std::string(what) + " record: " + std::string(why));
}

Status CheckHeader(Reader* r, uint8_t want_tag, std::string_view what) {
  uint8_t tag, version;
  if (!r->U8(&tag) || !r->U8(&version)) return Corrupt(what, "truncated header");
  if (tag != want_tag) return Corrupt(what, "wrong tag " + std::to_string(tag));
  if (version != kVersion) {
    return Corrupt(what, "unsupported version " + std::to_string(version) +
                             " (this build reads version " + std::to_string(kVersion) + ")");
  }
  return Status::Ok();
}

}  // namespace

int64_t MetaRecordSize(const EntryMeta& meta) {
  return 2 + 8 * kMetaInts + 3 * 4 +
         static_cast<int64_t>(meta.model.size() + meta.route.size() + meta.name_space.size());
}

int64_t EntrySize(int64_t meta_record_size, int64_t body_record_size) {
  return static_cast<int64_t>(sizeof(CacheKey::bytes)) + meta_record_size + body_record_size;
}

std::string EncodeMeta(const EntryMeta& m) {
  Writer w(static_cast<size_t>(MetaRecordSize(m)));
  w.U8(kMetaTag);
  w.U8(kVersion);
  for (int64_t v : {m.created_at_ms, m.expires_at_ms, m.hit_count, m.last_hit_at_ms, m.input_tokens,
                    m.output_tokens, m.upstream_latency_us, m.size_bytes}) {
    w.I64(v);
  }
  w.Str(m.model);
  w.Str(m.route);
  w.Str(m.name_space);
  return w.Take();
}

Status DecodeMeta(std::string_view data, EntryMeta* m) {
  Reader r(data);
  DEJA_RETURN_IF_ERROR(CheckHeader(&r, kMetaTag, "meta"));
  int64_t* ints[kMetaInts] = {&m->created_at_ms,       &m->expires_at_ms, &m->hit_count,
                              &m->last_hit_at_ms,      &m->input_tokens,  &m->output_tokens,
                              &m->upstream_latency_us, &m->size_bytes};
  for (int64_t* v : ints) {
    if (!r.I64(v)) return Corrupt("meta", "truncated counters");
  }
  if (!r.Str(&m->model) || !r.Str(&m->route) || !r.Str(&m->name_space)) {
    return Corrupt("meta", "string length exceeds record");
  }
  if (r.remaining() != 0) return Corrupt("meta", "trailing bytes");
  return Status::Ok();
}

std::string EncodeBody(const Entry& e) {
  const CachedResponse& resp = e.response;
  size_t reserve = 2 + 4 + e.canonical_request.size() + 4 + 4 + resp.content_type.size() + 1 + 4 +
                   resp.body.size() + 4;
  for (const StreamEvent& ev : resp.events) reserve += 8 + ev.event.size() + ev.data.size();
  Writer w(reserve);
  w.U8(kBodyTag);
  w.U8(kVersion);
  w.Str(e.canonical_request);
  w.U32(static_cast<uint32_t>(resp.status));
  w.Str(resp.content_type);
  w.U8(resp.streamed ? 1 : 0);
  w.Str(resp.body);
  w.U32(static_cast<uint32_t>(resp.events.size()));
  for (const StreamEvent& ev : resp.events) {
    w.Str(ev.event);
    w.Str(ev.data);
  }
  return w.Take();
}

Status DecodeBody(std::string_view data, Entry* e) {
  Reader r(data);
  DEJA_RETURN_IF_ERROR(CheckHeader(&r, kBodyTag, "body"));
  CachedResponse& resp = e->response;
  uint32_t status, n_events;
  uint8_t streamed;
  if (!r.Str(&e->canonical_request) || !r.U32(&status) || !r.Str(&resp.content_type) ||
      !r.U8(&streamed) || !r.Str(&resp.body) || !r.U32(&n_events)) {
    return Corrupt("body", "truncated or length exceeds record");
  }
  if (streamed > 1) return Corrupt("body", "bad streamed flag");
  // Each event takes at least two length prefixes; checking first bounds the allocation below.
  if (n_events > r.remaining() / 8) return Corrupt("body", "event count exceeds record");
  resp.status = static_cast<int>(status);
  resp.streamed = streamed == 1;
  resp.events.clear();
  resp.events.resize(n_events);
  for (StreamEvent& ev : resp.events) {
    if (!r.Str(&ev.event) || !r.Str(&ev.data)) return Corrupt("body", "truncated event");
  }
  if (r.remaining() != 0) return Corrupt("body", "trailing bytes");
  return Status::Ok();
}

std::string EncodeEntry(const Entry& entry) {
  std::string meta = EncodeMeta(entry.meta);
  std::string body = EncodeBody(entry);
  Writer w(2 + entry.key.bytes.size() + 8 + meta.size() + body.size());
  w.U8(kEntryTag);
  w.U8(kVersion);
  for (uint8_t b : entry.key.bytes) w.U8(b);
  w.Str(meta);
  w.Str(body);
  return w.Take();
}

StatusOr<Entry> DecodeEntry(std::string_view data) {
  Reader r(data);
  DEJA_RETURN_IF_ERROR(CheckHeader(&r, kEntryTag, "entry"));
  Entry e;
  for (uint8_t& b : e.key.bytes) {
    if (!r.U8(&b)) return Corrupt("entry", "truncated key");
  }
  std::string_view meta, body;
  if (!r.View(&meta) || !r.View(&body)) return Corrupt("entry", "length exceeds record");
  if (r.remaining() != 0) return Corrupt("entry", "trailing bytes");
  DEJA_RETURN_IF_ERROR(DecodeMeta(meta, &e.meta));
  DEJA_RETURN_IF_ERROR(DecodeBody(body, &e));
  return e;
}

}  // namespace deja::codec
