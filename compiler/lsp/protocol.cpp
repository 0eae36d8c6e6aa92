#include "compiler/lsp/protocol.h"

#include <fmt/format.h>

#include <filesystem>

namespace allot::lsp {
namespace {

// Bytes of the UTF-8 sequence that starts with `lead` (the text is valid UTF-8).
std::uint32_t sequence_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xf0) return 4;
  if (lead >= 0xe0) return 3;
  return 2;
}

std::uint32_t line_start(std::string_view text, std::uint32_t line) {
  std::uint32_t at = 0;
  for (std::uint32_t l = 0; l < line; ++l) {
    const std::size_t newline = text.find('\n', at);
    if (newline == std::string_view::npos) return static_cast<std::uint32_t>(text.size());
    at = static_cast<std::uint32_t>(newline + 1);
  }
  return at;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::uint32_t offset_of(std::string_view text, Position position) {
  std::uint32_t at = line_start(text, position.line);
  std::uint32_t units = 0;
  while (at < text.size() && text[at] != '\n' && text[at] != '\r' && units < position.character) {
    const std::uint32_t n = sequence_length(static_cast<unsigned char>(text[at]));
    units += n == 4 ? 2 : 1;
    at = std::min<std::uint32_t>(at + n, static_cast<std::uint32_t>(text.size()));
  }
  return at;
}

Position position_of(std::string_view text, std::uint32_t offset) {
  offset = std::min<std::uint32_t>(offset, static_cast<std::uint32_t>(text.size()));
  Position p;
  std::uint32_t at = 0;
  while (at < offset) {
    if (text[at] == '\n') {
      ++p.line;
      p.character = 0;
      ++at;
      continue;
    }
    const std::uint32_t n = sequence_length(static_cast<unsigned char>(text[at]));
    p.character += n == 4 ? 2 : 1;
    at += n;
  }
  return p;
}

std::optional<std::string> path_of_uri(std::string_view uri) {
  constexpr std::string_view kScheme = "file://";
  if (uri.size() < kScheme.size() || uri.substr(0, kScheme.size()) != kScheme) return std::nullopt;
  std::string_view rest = uri.substr(kScheme.size());
  if (rest.substr(0, 9) == "localhost") rest.remove_prefix(9);
  if (rest.empty() || rest[0] != '/') return std::nullopt;  // a remote host
  std::string path;
  for (std::size_t i = 0; i < rest.size(); ++i) {
    char c = rest[i];
    if (c == '?' || c == '#') break;
    if (c == '%' && i + 2 < rest.size()) {
      const int hi = hex_digit(rest[i + 1]), lo = hex_digit(rest[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '%') {
      return std::nullopt;
    }
    if (c == '\0') return std::nullopt;
    path.push_back(c);
  }
  return path;
}

std::string uri_of_path(std::string_view path) {
  std::error_code ec;
  std::string absolute = std::string(path);
  if (!path.empty() && path[0] != '/') {
    const std::filesystem::path p = std::filesystem::absolute(std::filesystem::path(path), ec);
    if (!ec) absolute = p.lexically_normal().string();
  }
  std::string out = "file://";
  for (const char c : absolute) {
    const auto u = static_cast<unsigned char>(c);
    const bool plain = (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') || c == '/' ||
                       c == '-' || c == '_' || c == '.' || c == '~';
    if (plain) {
      out.push_back(c);
    } else {
      out += fmt::format("%{:02X}", u);
    }
  }
  return out;
}

json::Value position_json(Position p) {
  return json::Object{{"line", static_cast<std::int64_t>(p.line)},
                      {"character", static_cast<std::int64_t>(p.character)}};
}

json::Value range_json(std::string_view text, SourceRange range) {
  const std::uint32_t begin = range.valid() ? range.begin : 0;
  const std::uint32_t end = range.valid() ? std::max(range.begin, range.end) : 0;
  return json::Object{{"start", position_json(position_of(text, begin))},
                      {"end", position_json(position_of(text, end))}};
}

json::Value diagnostic_json(const SourceManager& sources, const Diagnostic& d, SourceRange at, std::string_view prefix,
                            const FileUris& uris) {
  std::string message = std::string(prefix) + d.message;
  for (const DiagnosticNote& n : d.notes) {
    if (!n.range.valid()) message += "\nnote: " + n.message;
  }
  for (const std::string& h : d.help) message += "\nhelp: " + h;
  json::Array related;
  for (const DiagnosticNote& n : d.notes) {
    if (!n.range.valid() || n.range.file >= sources.file_count()) continue;
    related.push_back(json::Object{
        {"location",
         json::Object{{"uri", uris.uri(n.range.file)}, {"range", range_json(sources.text(n.range.file), n.range)}}},
        {"message", n.message}});
  }
  const std::string_view text = at.valid() ? sources.text(at.file) : std::string_view{};
  json::Value out = json::Object{{"range", range_json(text, at)},
                                 {"severity", d.severity == Severity::error     ? 1
                                              : d.severity == Severity::warning ? 2
                                                                                : 3},
                                 {"code", d.code},
                                 {"source", "allot"},
                                 {"message", message}};
  if (!related.empty()) out.set("relatedInformation", std::move(related));
  return out;
}

}  // namespace allot::lsp
