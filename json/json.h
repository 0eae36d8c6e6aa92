// The one JSON module of Allot: a value, a strict parser and the writers, on
// nlohmann-json. Low in the dependency graph: the compiler (diagnostics, SARIF,
// Kueue and plan strings) and the runtime (local API, journal, simulator
// reports) both link it. This header does not include nlohmann-json, so that
// its users compile without it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace allot::json {

class Value;
using Array = std::vector<Value>;
using Object = std::vector<std::pair<std::string, Value>>;  // in document order, keys unique

class Value {
 public:
  // Integers without fraction or exponent that fit are kept exact.
  using Variant = std::variant<std::nullptr_t, bool, std::int64_t, double, std::string, Array, Object>;

  Value() : value_(nullptr) {}
  Value(std::nullptr_t) : value_(nullptr) {}
  Value(bool b) : value_(b) {}
  Value(int i) : value_(static_cast<std::int64_t>(i)) {}
  Value(std::int64_t i) : value_(i) {}
  // Above INT64_MAX: kept as a double (never wrapped to a negative integer).
  Value(std::uint64_t i)
      : value_(i <= static_cast<std::uint64_t>(INT64_MAX) ? Variant(static_cast<std::int64_t>(i))
                                                          : Variant(static_cast<double>(i))) {}
  Value(double d) : value_(d) {}
  Value(const char* s) : value_(std::string(s)) {}
  Value(std::string s) : value_(std::move(s)) {}
  Value(std::string_view s) : value_(std::string(s)) {}
  Value(Array a) : value_(std::move(a)) {}
  Value(Object o) : value_(std::move(o)) {}

  const Variant& value() const { return value_; }
  bool is_null() const { return std::holds_alternative<std::nullptr_t>(value_); }
  const bool* as_bool() const { return std::get_if<bool>(&value_); }
  const std::string* as_string() const { return std::get_if<std::string>(&value_); }
  const Array* as_array() const { return std::get_if<Array>(&value_); }
  Array* as_array() { return std::get_if<Array>(&value_); }
  const Object* as_object() const { return std::get_if<Object>(&value_); }
  Object* as_object() { return std::get_if<Object>(&value_); }
  // An integer, or a double with an exact integral value.
  std::optional<std::int64_t> as_int() const;
  std::optional<double> as_number() const;

  // Object member lookup; nullptr when absent or not an object.
  const Value* find(std::string_view key) const;
  // Appends a member to an object (the caller keeps keys unique).
  Value& set(std::string key, Value value);

  // Compact, one line, keys in insertion order; non-ASCII passes through.
  // A double with an integral value in the int64 range is written as that
  // integer (so -0.0 is `0`), a non-finite one as `null`.
  std::string dump() const;

 private:
  Variant value_;
};

struct ParseError {
  std::size_t offset = 0;  // byte offset of the problem in the input
  std::string message;
};

using ParseResult = std::variant<Value, ParseError>;

inline constexpr std::size_t kMaxDepth = 64;

// RFC 8259 and no more: no comments, no trailing commas, no NaN or infinity
// (nor numbers that overflow to it), no byte order mark, strict UTF-8 (no
// overlongs, no surrogates, at most U+10FFFF; `\u` escapes paired), no
// duplicate keys, values nested at most kMaxDepth deep. The whole input must
// be one value (surrounding whitespace allowed). The caller bounds its size.
ParseResult parse(std::string_view text);

// `text` as the body of a JSON string literal (no quotes): `"`, `\` and the
// control characters escaped, DEL as `\u007f` (TOML and YAML strings need it
// escaped too), invalid UTF-8 replaced by U+FFFD. Valid in TOML basic and
// YAML double-quoted strings as well.
std::string escape(std::string_view text);
// The same, quoted.
std::string quote(std::string_view text);

// A streaming writer: keys in the order written, integers only (no floating
// point), so output is deterministic. Pretty output is indented by two spaces
// and ends with a newline; compact output has no spaces. A key written twice
// in one object keeps its first place and its last value.
class Writer {
 public:
  explicit Writer(bool pretty = true);
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  Writer& begin_object();
  Writer& end_object();
  Writer& begin_array();
  Writer& end_array();
  Writer& key(std::string_view name);
  Writer& value(std::string_view text);
  Writer& value(const char* text) { return value(std::string_view(text)); }
  Writer& value(std::int64_t number);
  Writer& value(int number) { return value(static_cast<std::int64_t>(number)); }
  Writer& value(std::size_t number) { return value(static_cast<std::int64_t>(number)); }
  Writer& value(bool flag);
  Writer& null();

  // The document written so far (call once it is complete).
  std::string str() const;

 private:
  struct Tree;
  std::unique_ptr<Tree> tree_;  // behind a pointer to keep nlohmann-json out of this header
  bool pretty_;
};

}  // namespace allot::json
