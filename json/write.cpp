// Writing: every byte of JSON that Allot prints comes from nlohmann-json's
// serializer (escaping and layout); this file only builds its documents.
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

Doc to_tree(const Value& v) {
  return std::visit(
      [](const auto& x) -> Doc {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, double>) {
          // Integral doubles as integers: -0.0 would otherwise read back as
          // the integer 0 and dump differently.
          if (!std::isfinite(x)) return nullptr;
          if (std::trunc(x) == x && x >= -9223372036854775808.0 && x < 9223372036854775808.0)
            return static_cast<std::int64_t>(x);
          return x;
        } else if constexpr (std::is_same_v<T, Array>) {
          Doc a = Doc::array();
          for (const Value& item : x) a.push_back(to_tree(item));
          return a;
        } else if constexpr (std::is_same_v<T, Object>) {
          Doc o = Doc::object();
          // Keys are unique by contract; emplace keeps the first of a repeat.
          for (const auto& [k, item] : x) o.emplace(k, to_tree(item));
          return o;
        } else {
          return x;
        }
      },
      v.value());
}

}  // namespace

std::string escape(std::string_view text) {
  std::string quoted = quote(text);
  return quoted.substr(1, quoted.size() - 2);
}

std::string quote(std::string_view text) { return serialize(Doc(std::string(text)), -1); }

std::string Value::dump() const { return serialize(to_tree(*this), -1); }

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
