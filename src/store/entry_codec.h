// Versioned, length-prefixed binary encoding of cache entries as the LMDB engine stores them.
//
// An entry is split into two records so that metadata scans (ls, eviction, purge) never touch
// bodies:
//   meta record: 'M' version | 8 x int64 | model | route | name_space
//   body record: 'B' version | canonical_request | status | content_type | streamed | body | events
// Integers are little-endian and fixed-width (so rewriting hit counts never changes a record's size
// and hence never changes size_bytes); strings are a uint32 length then the bytes. A whole-entry
// record ('E') wraps key + meta + body for export and tests.
//
// Decoders validate every length against the remaining input and reject trailing bytes, unknown
// tags and unknown versions with DataLoss: corrupt input yields an error, never a crash or a huge
// allocation.
//
// Thread safety: free functions over values; safe to call concurrently.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "deja/status.h"
#include "deja/store.h"

namespace deja::codec {

inline constexpr uint8_t kMetaTag = 'M';
inline constexpr uint8_t kBodyTag = 'B';
inline constexpr uint8_t kEntryTag = 'E';
inline constexpr uint8_t kVersion = 1;

// Bytes EncodeMeta(meta) will produce; depends only on the string lengths.
int64_t MetaRecordSize(const EntryMeta& meta);
// size_bytes of an entry whose records have these sizes: key + meta record + body record.
int64_t EntrySize(int64_t meta_record_size, int64_t body_record_size);

std::string EncodeMeta(const EntryMeta& meta);
Status DecodeMeta(std::string_view data, EntryMeta* out);

// Encodes canonical_request and response.
std::string EncodeBody(const Entry& entry);
// Fills out->canonical_request and out->response; leaves key and meta alone.
Status DecodeBody(std::string_view data, Entry* out);

// The whole entry in one record (key, meta, body), e.g. for export.
std::string EncodeEntry(const Entry& entry);
StatusOr<Entry> DecodeEntry(std::string_view data);

}  // namespace deja::codec
