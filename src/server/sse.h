// Server-sent events (text/event-stream): an incremental parser and a writer.
//
// The parser follows the WHATWG HTML "event stream interpretation" rules: lines end in "\n", "\r\n"
// or "\r" (a "\r\n" split across two Feed calls is still one line end); `event:` sets the event
// name; `data:` lines are joined with "\n"; one space after the colon is dropped; lines starting
// with
// ':' are comments; a blank line dispatches the pending event, but only if it has a data line;
// `id:`, `retry:` and unknown fields are ignored; a UTF-8 BOM at the very start is skipped.
//
//   SseParser parser;
//   std::vector<StreamEvent> events;
//   parser.Feed(chunk1, &events);
//   parser.Feed(chunk2, &events);
//   if (parser.HasPartialEvent()) { /* upstream ended mid-event: the stream is truncated */ }
//
//   std::string wire;
//   for (const StreamEvent& e : events) AppendSse(e, &wire);
//
// Thread safety: an SseParser is a plain value with no internal locking; use one per stream (or
// synchronize externally). AppendSse is a pure function.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "deja/store.h"

namespace deja::server {

class SseParser {
 public:
  // Feeds bytes; appends every event completed by them to *out, in order.
  void Feed(std::string_view bytes, std::vector<StreamEvent>* out);

  // True when bytes have been fed that do not yet form a complete event: an unterminated line, or
  // field lines not yet followed by the blank line that dispatches them. A stream that ends in this
  // state was cut off mid-event.
  bool HasPartialEvent() const;

 private:
  void ProcessLine(std::string_view line, std::vector<StreamEvent>* out);

  std::string line_;         // bytes of the current, unterminated line
  std::string event_;        // pending `event:` value
  std::string data_;         // pending `data:` values, each followed by "\n"; empty: no data line
  bool has_fields_ = false;  // any non-comment line was seen since the last dispatch
  bool skip_lf_ = false;    // the last byte was '\r': a following '\n' belongs to the same line end
  size_t bom_matched_ = 0;  // bytes of a leading UTF-8 BOM matched so far; 3 once past the start
};

// Appends `e` in wire form: "event: <name>\n" (omitted when the name is empty), one "data: " line
// per line of e.data (so multi-line data survives a round trip through SseParser), then a blank
// line. REQUIRES: e.event contains no line break.
void AppendSse(const StreamEvent& e, std::string* out);

}  // namespace deja::server
