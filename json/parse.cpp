// Parsing: nlohmann-json's lexer and SAX parser (RFC 8259 grammar, strict
// UTF-8, paired surrogates, no comments, overflow to infinity refused), with
// a handler that builds a Value and adds what it does not check: duplicate
// keys, the depth bound and the integer ranges Value keeps exact. Its SAX
// parser keeps no recursion, so no input can exhaust the stack.
#include <iterator>
#include <nlohmann/json.hpp>
#include <unordered_set>

#include "json/json.h"

namespace allot::json {
namespace {

using Doc = nlohmann::json;

// A byte iterator that records how far the lexer has read, for the offset of
// errors the handler finds (SAX events carry no position).
struct CountingIterator {
  using iterator_category = std::input_iterator_tag;
  using value_type = char;
  using difference_type = std::ptrdiff_t;
  using pointer = const char*;
  using reference = const char&;

  const char* at = nullptr;
  const char** furthest = nullptr;

  reference operator*() const { return *at; }
  CountingIterator& operator++() {
    ++at;
    *furthest = at;
    return *this;
  }
  CountingIterator operator++(int) {
    CountingIterator before = *this;
    ++*this;
    return before;
  }
  bool operator==(const CountingIterator& o) const { return at == o.at; }
  bool operator!=(const CountingIterator& o) const { return at != o.at; }
};

// nlohmann's messages read "[json.exception.parse_error.101] parse error at
// line 1, column 4: syntax error ..."; the offset is reported apart.
std::string plain_message(std::string what) {
  if (!what.empty() && what[0] == '[') {
    const std::size_t end = what.find("] ");
    if (end != std::string::npos) what.erase(0, end + 2);
  }
  if (what.rfind("parse error", 0) == 0) {
    const std::size_t colon = what.find(": ");
    if (colon != std::string::npos) what.erase(0, colon + 2);
  }
  return what;
}

class Builder {
 public:
  Builder(const char* begin, const char* const* furthest) : begin_(begin), furthest_(furthest) {}

  bool null() { return add(Value(nullptr)); }
  bool boolean(bool b) { return add(Value(b)); }
  bool number_integer(Doc::number_integer_t i) { return add(Value(static_cast<std::int64_t>(i))); }
  // Above INT64_MAX: a double, as Value(uint64_t) keeps it.
  bool number_unsigned(Doc::number_unsigned_t u) { return add(Value(static_cast<std::uint64_t>(u))); }
  bool number_float(Doc::number_float_t d, const Doc::string_t&) { return add(Value(static_cast<double>(d))); }
  bool string(Doc::string_t& s) { return add(Value(std::move(s))); }
  bool binary(Doc::binary_t&) { return fail("binary values are not JSON"); }

  bool start_object(std::size_t) { return open(Value(Object{})); }
  bool start_array(std::size_t) { return open(Value(Array{})); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }

  bool key(Doc::string_t& k) {
    Frame& f = frames_.back();
    if (duplicate(f, k)) return fail("duplicate key `" + k + "`");
    f.key = std::move(k);
    return true;
  }

  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& e) {
    if (!error_) error_ = ParseError{position > 0 ? position - 1 : 0, plain_message(e.what())};
    return false;
  }

  ParseResult result() && {
    if (error_) return std::move(*error_);
    return std::move(root_);
  }

 private:
  struct Frame {
    Value container;
    std::string key;
    std::unordered_set<std::string> keys;  // of an object past kScanKeys members
  };

  // Objects of the protocol have a dozen members: a scan of them is faster
  // than hashing (a submit request parses in about half the time than with a
  // set per object; docs/benchmarks.md, "JSON"). Larger objects get a set,
  // so a line of many keys stays linear.
  static constexpr std::size_t kScanKeys = 32;

  static bool duplicate(Frame& f, const std::string& k) {
    const Object& members = *f.container.as_object();
    if (members.size() < kScanKeys) {
      for (const auto& m : members) {
        if (m.first == k) return true;
      }
      return false;
    }
    if (f.keys.empty()) {
      for (const auto& m : members) f.keys.insert(m.first);
    }
    return !f.keys.insert(k).second;
  }

  std::size_t offset() const {
    const std::size_t read = static_cast<std::size_t>(*furthest_ - begin_);
    return read > 0 ? read - 1 : 0;
  }

  bool fail(std::string message) {
    if (!error_) error_ = ParseError{offset(), std::move(message)};
    return false;
  }

  // A value inside kMaxDepth containers is refused, as a container is.
  bool deep() {
    if (frames_.size() < kMaxDepth) return false;
    fail("nesting deeper than " + std::to_string(kMaxDepth));
    return true;
  }

  bool add(Value v) {
    if (deep()) return false;
    place(std::move(v));
    return true;
  }

  bool open(Value container) {
    if (deep()) return false;
    frames_.push_back(Frame{std::move(container), {}, {}});
    return true;
  }

  bool close() {
    Value done = std::move(frames_.back().container);
    frames_.pop_back();
    place(std::move(done));
    return true;
  }

  void place(Value v) {
    if (frames_.empty()) {
      root_ = std::move(v);
      return;
    }
    Frame& f = frames_.back();
    if (Object* o = f.container.as_object()) {
      o->emplace_back(std::move(f.key), std::move(v));
    } else {
      f.container.as_array()->push_back(std::move(v));  // the only other container
    }
  }

  const char* begin_;
  const char* const* furthest_;
  std::vector<Frame> frames_;
  Value root_;
  std::optional<ParseError> error_;
};

}  // namespace

ParseResult parse(std::string_view text) {
  // nlohmann-json skips a UTF-8 byte order mark; RFC 8259 8.1 lets a parser
  // refuse one, and the protocol never sends one.
  if (text.substr(0, 3) == "\xef\xbb\xbf") return ParseError{0, "byte order mark before the value"};
  // nlohmann-json's lexer takes NUL for the end of the input; JSON has no
  // place for a raw one, inside a string or out.
  if (const std::size_t nul = text.find('\0'); nul != std::string_view::npos) return ParseError{nul, "NUL byte"};
  const char* furthest = text.data();
  const CountingIterator first{text.data(), &furthest};
  const CountingIterator last{text.data() + text.size(), &furthest};
  Builder builder(text.data(), &furthest);
  Doc::sax_parse(first, last, &builder, nlohmann::detail::input_format_t::json, /*strict=*/true,
                 /*ignore_comments=*/false);
  return std::move(builder).result();
}

}  // namespace allot::json
