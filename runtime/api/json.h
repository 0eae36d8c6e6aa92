// A compact, strict JSON value, parser and writer for the runtime's local API
// (RFC 8259: no comments, no trailing commas, no NaN, valid UTF-8, no
// duplicate keys, bounded nesting). The runtime does not link the compiler's
// JSON code.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace allot::api {

class Json;
using JsonArray = std::vector<Json>;
using JsonObject = std::vector<std::pair<std::string, Json>>;  // in document order, keys unique

class Json {
 public:
  // Integers without fraction or exponent that fit are kept exact.
  using Value = std::variant<std::nullptr_t, bool, std::int64_t, double, std::string, JsonArray, JsonObject>;

  Json() : value_(nullptr) {}
  Json(std::nullptr_t) : value_(nullptr) {}
  Json(bool b) : value_(b) {}
  Json(int i) : value_(static_cast<std::int64_t>(i)) {}
  Json(std::int64_t i) : value_(i) {}
  // Above INT64_MAX: kept as a double (never wrapped to a negative integer).
  Json(std::uint64_t i)
      : value_(i <= static_cast<std::uint64_t>(INT64_MAX) ? Value(static_cast<std::int64_t>(i))
                                                          : Value(static_cast<double>(i))) {}
  Json(double d) : value_(d) {}
  Json(const char* s) : value_(std::string(s)) {}
  Json(std::string s) : value_(std::move(s)) {}
  Json(std::string_view s) : value_(std::string(s)) {}
  Json(JsonArray a) : value_(std::move(a)) {}
  Json(JsonObject o) : value_(std::move(o)) {}

  const Value& value() const { return value_; }
  bool is_null() const { return std::holds_alternative<std::nullptr_t>(value_); }
  const bool* as_bool() const { return std::get_if<bool>(&value_); }
  const std::string* as_string() const { return std::get_if<std::string>(&value_); }
  const JsonArray* as_array() const { return std::get_if<JsonArray>(&value_); }
  const JsonObject* as_object() const { return std::get_if<JsonObject>(&value_); }
  JsonObject* as_object() { return std::get_if<JsonObject>(&value_); }
  // An integer, or a double with an exact integral value.
  std::optional<std::int64_t> as_int() const;
  std::optional<double> as_number() const;

  // Object member lookup; nullptr when absent or not an object.
  const Json* find(std::string_view key) const;
  // Appends a member to an object (the caller keeps keys unique).
  Json& set(std::string key, Json value);

  // Compact, one line, keys in insertion order; non-ASCII passes through.
  std::string dump() const;

 private:
  Value value_;
};

struct JsonError {
  std::size_t offset = 0;  // byte offset of the problem in the input
  std::string message;
};

using JsonParseResult = std::variant<Json, JsonError>;

inline constexpr std::size_t kMaxJsonDepth = 64;

// The whole input must be one value (surrounding whitespace allowed).
JsonParseResult parse_json(std::string_view text);

// Appends `text` as a JSON string literal (quoted, escaped).
void append_json_string(std::string& out, std::string_view text);

}  // namespace allot::api
