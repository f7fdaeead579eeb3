#include "server/sse.h"

#include <utility>

namespace deja::server {

namespace {
constexpr std::string_view kBom = "\xEF\xBB\xBF";
}  // namespace

void SseParser::Feed(std::string_view bytes, std::vector<StreamEvent>* out) {
  size_t i = 0;
  const size_t n = bytes.size();
  // The BOM may itself arrive split across calls, so match it byte by byte. Bytes that turn out not
  // to be a BOM are ordinary line content.
  while (bom_matched_ < kBom.size() && i < n) {
    if (bytes[i] == kBom[bom_matched_]) {
      ++bom_matched_;
      ++i;
      continue;
    }
    line_.append(kBom.substr(0, bom_matched_));
    bom_matched_ = kBom.size();
  }
  if (skip_lf_ && i < n) {
    if (bytes[i] == '\n') ++i;
    skip_lf_ = false;
  }
  while (i < n) {
    const size_t end = bytes.find_first_of("\r\n", i);
    if (end == std::string_view::npos) {
      line_.append(bytes.substr(i));
      break;
    }
    // Avoid copying whole lines when nothing is buffered (the common case for network reads that
    // hold many complete lines).
    if (line_.empty()) {
      ProcessLine(bytes.substr(i, end - i), out);
    } else {
      line_.append(bytes.substr(i, end - i));
      ProcessLine(line_, out);  // reads line_ without changing it
      line_.clear();            // keeps the capacity for the next split line
    }
    i = end + 1;
    if (bytes[end] == '\r') {
      if (i < n) {
        if (bytes[i] == '\n') ++i;
      } else {
        skip_lf_ = true;  // the '\n' of a "\r\n" may be the first byte of the next Feed
      }
    }
  }
}

void SseParser::ProcessLine(std::string_view line, std::vector<StreamEvent>* out) {
  if (line.empty()) {
    // An event is dispatched only if it has data (even an empty `data:` line counts).
    if (!data_.empty()) {
      data_.pop_back();  // the "\n" appended after the last data line
      out->push_back(StreamEvent{std::move(event_), std::move(data_)});
    }
    event_.clear();
    data_.clear();
    has_fields_ = false;
    return;
  }
  if (line.front() == ':') return;  // comment (keep-alive)
  has_fields_ = true;
  std::string_view field = line;
  std::string_view value;
  if (size_t colon = line.find(':'); colon != std::string_view::npos) {
    field = line.substr(0, colon);
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  if (field == "event") {
    event_.assign(value);
  } else if (field == "data") {
    data_.append(value);
    data_.push_back('\n');
  }
  // `id`, `retry` and unknown fields carry nothing deja stores.
}

bool SseParser::HasPartialEvent() const {
  const bool partial_bom = bom_matched_ > 0 && bom_matched_ < kBom.size();
  return partial_bom || !line_.empty() || has_fields_;
}

void AppendSse(const StreamEvent& e, std::string* out) {
  if (!e.event.empty()) {
    out->append("event: ");
    out->append(e.event);
    out->push_back('\n');
  }
  // Every line break in the data (any of the three forms) starts a new data line; the parser joins
  // them back with "\n".
  std::string_view data = e.data;
  while (true) {
    const size_t end = data.find_first_of("\r\n");
    out->append("data: ");
    out->append(data.substr(0, end));
    out->push_back('\n');
    if (end == std::string_view::npos) break;
    size_t next = end + 1;
    if (data[end] == '\r' && next < data.size() && data[next] == '\n') ++next;
    data.remove_prefix(next);
  }
  out->push_back('\n');
}

}  // namespace deja::server
