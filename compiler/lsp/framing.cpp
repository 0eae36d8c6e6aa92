#include "compiler/lsp/framing.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <optional>
#include <vector>

namespace allot::lsp {
namespace {

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// A decimal of at most 18 digits (so that it cannot overflow), nothing else.
std::optional<std::uint64_t> decimal(std::string_view s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  std::uint64_t n = 0;
  for (const char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return n;
}

Frame fail(FrameStatus status, std::string problem) {
  Frame f;
  f.status = status;
  f.problem = std::move(problem);
  return f;
}

}  // namespace

Frame FrameReader::next() {
  // The header: lines up to an empty one, `\r\n` (a bare `\n` is accepted).
  std::vector<std::string> lines;
  std::string line;
  std::size_t header_bytes = 0;
  for (;;) {
    const int c = in_.sbumpc();
    if (c == std::char_traits<char>::eof()) {
      if (header_bytes == 0) return Frame{};
      return fail(FrameStatus::malformed, "the input ended inside a message header");
    }
    if (++header_bytes > limits_.max_header_bytes) {
      return fail(FrameStatus::malformed,
                  fmt::format("a message header is longer than the limit of {} bytes", limits_.max_header_bytes));
    }
    if (c != '\n') {
      line.push_back(static_cast<char>(c));
      continue;
    }
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) break;
    lines.push_back(std::move(line));
    line.clear();
  }
  std::optional<std::uint64_t> length;
  for (const std::string& l : lines) {
    const std::size_t colon = l.find(':');
    if (colon == std::string::npos) {
      return fail(FrameStatus::malformed, fmt::format("header line `{}` has no `:`", l.substr(0, 80)));
    }
    const std::string_view name = trim(std::string_view(l).substr(0, colon));
    if (!equals_ignoring_case(name, "Content-Length")) continue;  // Content-Type and others
    const std::string_view value = trim(std::string_view(l).substr(colon + 1));
    const std::optional<std::uint64_t> n = decimal(value);
    if (!n) {
      if (!value.empty() && value.size() > 18 &&
          std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return fail(FrameStatus::too_large,
                    fmt::format("`Content-Length` is more than the limit of {} bytes", limits_.max_body_bytes));
      }
      return fail(FrameStatus::malformed,
                  fmt::format("`Content-Length` is `{}`, not a number of bytes", value.substr(0, 40)));
    }
    if (length && *length != *n) return fail(FrameStatus::malformed, "two different `Content-Length` headers");
    length = n;
  }
  if (!length) return fail(FrameStatus::malformed, "a message header without `Content-Length`");
  if (*length > limits_.max_body_bytes) {
    return fail(FrameStatus::too_large, fmt::format("`Content-Length` is {} bytes, more than the limit of {} bytes",
                                                    *length, limits_.max_body_bytes));
  }
  // The body grows as it arrives: a large announced length costs memory only
  // once its bytes are there.
  Frame f;
  f.status = FrameStatus::message;
  const auto want = static_cast<std::size_t>(*length);
  while (f.body.size() < want) {
    const std::size_t chunk = std::min<std::size_t>(want - f.body.size(), 65536);
    const std::size_t at = f.body.size();
    f.body.resize(at + chunk);
    const std::streamsize got = in_.sgetn(f.body.data() + at, static_cast<std::streamsize>(chunk));
    f.body.resize(at + static_cast<std::size_t>(std::max<std::streamsize>(got, 0)));
    if (got <= 0) {
      return fail(FrameStatus::malformed,
                  fmt::format("the input ended after {} of the {} bytes of a message", f.body.size(), want));
    }
  }
  return f;
}

std::string frame(std::string_view body) { return fmt::format("Content-Length: {}\r\n\r\n{}", body.size(), body); }

}  // namespace allot::lsp
