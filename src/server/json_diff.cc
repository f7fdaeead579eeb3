#include "server/json_diff.h"

#include <algorithm>

namespace deja::server {
namespace {

constexpr std::string_view kAbsent = "(absent)";

size_t Leaves(const json::Value& v) {
  size_t n = 0;
  if (v.is_array()) {
    for (const json::Value& e : v.as_array()) n += Leaves(e);
  } else if (v.is_object()) {
    for (const auto& [name, child] : v.as_object()) n += Leaves(child);
  } else {
    return 1;
  }
  return std::max<size_t>(n, 1);  // an empty container is one value
}

struct Differ {
  size_t max_chars;
  std::vector<JsonDifference>* out;

  void Add(const std::string& pointer, const json::Value* left, const json::Value* right) {
    JsonDifference d;
    d.pointer = pointer;
    d.left = left != nullptr ? AbbreviateJson(*left, max_chars) : std::string(kAbsent);
    d.right = right != nullptr ? AbbreviateJson(*right, max_chars) : std::string(kAbsent);
    d.weight = std::max(left != nullptr ? Leaves(*left) : 0, right != nullptr ? Leaves(*right) : 0);
    out->push_back(std::move(d));
  }

  void Walk(const json::Value& left, const json::Value& right, std::string* pointer) {
    const size_t mark = pointer->size();
    if (left.is_object() && right.is_object()) {
      // Sorted member names, so the output does not depend on member order.
      std::vector<const json::Member*> a, b;
      for (const json::Member& m : left.as_object()) a.push_back(&m);
      for (const json::Member& m : right.as_object()) b.push_back(&m);
      auto by_name = [](const json::Member* x, const json::Member* y) {
        return x->first < y->first;
      };
      std::sort(a.begin(), a.end(), by_name);
      std::sort(b.begin(), b.end(), by_name);
      size_t i = 0, j = 0;
      while (i < a.size() || j < b.size()) {
        const bool take_a = j == b.size() || (i < a.size() && a[i]->first <= b[j]->first);
        const bool take_b = i == a.size() || (j < b.size() && b[j]->first <= a[i]->first);
        const std::string& name = take_a ? a[i]->first : b[j]->first;
        pointer->push_back('/');
        AppendPointerToken(name, pointer);
        if (take_a && take_b) {
          Walk(a[i]->second, b[j]->second, pointer);
        } else {
          Add(*pointer, take_a ? &a[i]->second : nullptr, take_b ? &b[j]->second : nullptr);
        }
        pointer->resize(mark);
        if (take_a) ++i;
        if (take_b) ++j;
      }
      return;
    }
    if (left.is_array() && right.is_array()) {
      const json::Array& a = left.as_array();
      const json::Array& b = right.as_array();
      for (size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
        *pointer += '/' + std::to_string(i);
        if (i < a.size() && i < b.size()) {
          Walk(a[i], b[i], pointer);
        } else {
          Add(*pointer, i < a.size() ? &a[i] : nullptr, i < b.size() ? &b[i] : nullptr);
        }
        pointer->resize(mark);
      }
      return;
    }
    if (!(left == right)) Add(*pointer, &left, &right);
  }
};

}  // namespace

std::vector<JsonDifference> DiffJson(const json::Value& left, const json::Value& right,
                                     size_t max_chars) {
  std::vector<JsonDifference> out;
  Differ d{max_chars, &out};
  std::string pointer;
  d.Walk(left, right, &pointer);
  return out;
}

size_t DiffDistance(const std::vector<JsonDifference>& diffs) {
  size_t n = 0;
  for (const JsonDifference& d : diffs) n += d.weight;
  return n;
}

std::string AbbreviateJson(const json::Value& v, size_t max_chars) {
  std::string s = json::Write(v);
  if (s.size() <= max_chars) return s;
  size_t cut = max_chars;
  // Never split a UTF-8 sequence: back up over continuation bytes.
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xc0) == 0x80) --cut;
  s.resize(cut);
  s += "\xe2\x80\xa6";  // …
  return s;
}

void AppendPointerToken(std::string_view token, std::string* pointer) {
  for (char c : token) {
    if (c == '~') {
      *pointer += "~0";
    } else if (c == '/') {
      *pointer += "~1";
    } else {
      *pointer += c;
    }
  }
}

}  // namespace deja::server
