// Writing: every escaped string and every double Allot prints comes from
// nlohmann-json's serializer, and so does the layout of Writer; the compact
// layout of Value::dump is written here (the reason is at dump_to).
#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>

#include "json/json.h"

namespace allot::json {
namespace {

using Doc = nlohmann::ordered_json;

// DEL is legal raw in JSON but not in TOML or YAML strings, and the writers
// before this module escaped it; nlohmann-json passes it through. It can only
// occur inside a string of the output, so replacing every one is exact.
std::string escape_del(std::string text) {
  std::string::size_type at = text.find('\x7f');
  if (at == std::string::npos) return text;
  std::string out;
  out.reserve(text.size() + 8);
  std::string::size_type from = 0;
  for (; at != std::string::npos; at = text.find('\x7f', from)) {
    out.append(text, from, at - from);
    out += "\\u007f";
    from = at + 1;
  }
  out.append(text, from, std::string::npos);
  return out;
}

std::string serialize(const Doc& tree, int indent) {
  return escape_del(tree.dump(indent, ' ', false, Doc::error_handler_t::replace));
}

void append_string(std::string& out, std::string_view text);

// Value::dump writes the compact layout itself, which is only brackets,
// commas, colons and integers; strings and doubles still come from
// nlohmann-json. Building an nlohmann document per dump instead made every
// journal record and reply 5 to 7 times slower to write (docs/benchmarks.md,
// "JSON": a `ps` reply of 1,000 jobs took 10.5 ms instead of 1.4 ms, in
// allotd's single-threaded loop).
void dump_to(const Value& v, std::string& out) {
  std::visit(
      [&out](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::nullptr_t>) {
          out += "null";
        } else if constexpr (std::is_same_v<T, bool>) {
          out += x ? "true" : "false";
        } else if constexpr (std::is_same_v<T, std::int64_t>) {
          char digits[24];
          const auto r = std::to_chars(digits, digits + sizeof digits, x);
          out.append(digits, r.ptr);
        } else if constexpr (std::is_same_v<T, double>) {
          // Integral doubles as integers: -0.0 would otherwise read back as
          // the integer 0 and dump differently.
          if (!std::isfinite(x)) {
            out += "null";
          } else if (std::trunc(x) == x && x >= -9223372036854775808.0 && x < 9223372036854775808.0) {
            dump_to(Value(static_cast<std::int64_t>(x)), out);
          } else {
            out += Doc(x).dump();
          }
        } else if constexpr (std::is_same_v<T, std::string>) {
          append_string(out, x);
        } else if constexpr (std::is_same_v<T, Array>) {
          out += '[';
          for (std::size_t i = 0; i < x.size(); ++i) {
            if (i) out += ',';
            dump_to(x[i], out);
          }
          out += ']';
        } else {
          out += '{';
          for (std::size_t i = 0; i < x.size(); ++i) {
            if (i) out += ',';
            append_string(out, x[i].first);
            out += ':';
            dump_to(x[i].second, out);
          }
          out += '}';
        }
      },
      v.value());
}

// Printable ASCII other than `"` and `\` is its own escape in every JSON
// writer; anything else goes through nlohmann-json's escaper.
void append_string(std::string& out, std::string_view text) {
  for (const char c : text) {
    if (c < 0x20 || c > 0x7e || c == '"' || c == '\\') {
      out += quote(text);
      return;
    }
  }
  out += '"';
  out += text;
  out += '"';
}

}  // namespace

std::string escape(std::string_view text) {
  std::string quoted = quote(text);
  return quoted.substr(1, quoted.size() - 2);
}

std::string quote(std::string_view text) { return serialize(Doc(std::string(text)), -1); }

std::string Value::dump() const {
  std::string out;
  dump_to(*this, out);
  return out;
}

struct Writer::Tree {
  Doc root;
  std::vector<Doc*> open;  // the containers not yet ended, innermost last
  std::string key;         // the key of the next value, in an object
};

Writer::Writer(bool pretty) : tree_(std::make_unique<Tree>()), pretty_(pretty) {}
Writer::~Writer() = default;

namespace {

// Places `v` in the innermost open container (or as the document) and
// returns where it now lives. Pointers to the open containers stay valid:
// only the innermost one grows.
Doc* place(std::vector<Doc*>& open, Doc& root, std::string& key, Doc v) {
  if (open.empty()) {
    root = std::move(v);
    return &root;
  }
  Doc& parent = *open.back();
  if (parent.is_array()) {
    parent.push_back(std::move(v));
    return &parent.back();
  }
  Doc& slot = parent[key];
  slot = std::move(v);
  return &slot;
}

}  // namespace

Writer& Writer::begin_object() {
  tree_->open.push_back(place(tree_->open, tree_->root, tree_->key, Doc::object()));
  return *this;
}

Writer& Writer::end_object() {
  tree_->open.pop_back();
  return *this;
}

Writer& Writer::begin_array() {
  tree_->open.push_back(place(tree_->open, tree_->root, tree_->key, Doc::array()));
  return *this;
}

Writer& Writer::end_array() {
  tree_->open.pop_back();
  return *this;
}

Writer& Writer::key(std::string_view name) {
  tree_->key.assign(name);
  return *this;
}

Writer& Writer::value(std::string_view text) {
  place(tree_->open, tree_->root, tree_->key, std::string(text));
  return *this;
}

Writer& Writer::value(std::int64_t number) {
  place(tree_->open, tree_->root, tree_->key, number);
  return *this;
}

Writer& Writer::value(bool flag) {
  place(tree_->open, tree_->root, tree_->key, flag);
  return *this;
}

Writer& Writer::null() {
  place(tree_->open, tree_->root, tree_->key, nullptr);
  return *this;
}

std::string Writer::str() const {
  if (!pretty_) return serialize(tree_->root, -1);
  return serialize(tree_->root, 2) + "\n";
}

}  // namespace allot::json
