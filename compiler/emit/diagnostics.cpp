#include "compiler/emit/diagnostics.h"

#include <fmt/format.h>

#include <algorithm>

#include "compiler/emit/json.h"

namespace allot::emit {
namespace {

struct Style {
  bool on;
  std::string paint(std::string_view text, const char* code) const {
    if (!on) return std::string(text);
    return fmt::format("\x1b[{}m{}\x1b[0m", code, text);
  }
};

constexpr const char* kBold = "1";
constexpr const char* kRed = "1;31";
constexpr const char* kYellow = "1;33";
constexpr const char* kCyan = "1;36";
constexpr const char* kBlue = "1;34";

std::uint32_t code_points(std::string_view text) {
  std::uint32_t n = 0;
  for (char c : text) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  }
  return n;
}

}  // namespace

// Messages quote names and strings from the policy: a NUL or an escape
// sequence in them must reach the terminal as text, never as a control.
std::string escape_controls(std::string_view text) {
  const bool valid = find_invalid_utf8(text) == std::string_view::npos;
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    const bool c1 = valid && byte == 0xC2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) >= 0x80 &&
                    static_cast<unsigned char>(text[i + 1]) <= 0x9F;
    if (c1) {  // U+0080..U+009F: C1 controls (0x9B is CSI on some terminals)
      out += fmt::format("\\u{{{:x}}}", static_cast<unsigned char>(text[++i]));
    } else if (byte < 0x20 || byte == 0x7f || (!valid && byte >= 0x80)) {
      out += fmt::format("\\x{:02x}", byte);
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

namespace {

std::string location(const SourceManager& sources, SourceRange range) {
  const LineColumn lc = sources.line_column(range.file, range.begin);
  return fmt::format("{}:{}:{}", escape_controls(sources.path(range.file)), lc.line, lc.column);
}

// Control characters and bytes of invalid UTF-8 would garble a terminal.
std::string printable(std::string_view line) {
  const bool valid = find_invalid_utf8(line) == std::string_view::npos;
  std::string out;
  out.reserve(line.size());
  for (char c : line) {
    const auto byte = static_cast<unsigned char>(c);
    if ((byte < 0x20 && c != '\t') || byte == 0x7f || (!valid && byte >= 0x80)) {
      out.push_back('?');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// The source line and a caret line under `range` (only its first line). Long
// lines are cut to a window around the range.
void append_snippet(std::string& out, const SourceManager& sources, SourceRange range, const Style& style,
                    const char* caret_color) {
  constexpr std::size_t kContext = 60;
  constexpr std::size_t kWindow = 160;
  const LineColumn start = sources.line_column(range.file, range.begin);
  const std::string_view full_line = sources.line_text(range.file, start.line);
  // Byte offset of the range inside the line.
  const std::size_t line_offset = static_cast<std::size_t>(full_line.data() - sources.text(range.file).data());
  std::size_t begin = std::min<std::size_t>(range.begin - line_offset, full_line.size());
  std::size_t end =
      std::clamp<std::size_t>(range.end >= line_offset ? range.end - line_offset : begin, begin, full_line.size());
  std::size_t window_start = begin > kContext ? begin - kContext : 0;
  while (window_start > 0 && (static_cast<unsigned char>(full_line[window_start]) & 0xC0) == 0x80) --window_start;
  std::size_t window_end = std::min(full_line.size(), window_start + kWindow);
  while (window_end < full_line.size() && (static_cast<unsigned char>(full_line[window_end]) & 0xC0) == 0x80) {
    ++window_end;
  }
  const std::string_view line = full_line.substr(window_start, window_end - window_start);
  begin -= window_start;
  end = std::min(end - window_start, line.size());
  const std::string prefix = window_start > 0 ? "..." : "";
  const std::string suffix = window_end < full_line.size() ? "..." : "";

  // Keep tabs in the padding so the caret lines up under tabbed source.
  std::string padding(prefix.size(), ' ');
  for (std::size_t i = 0; i < begin; ++i) {
    const char c = line[i];
    if ((static_cast<unsigned char>(c) & 0xC0) == 0x80) continue;
    padding.push_back(c == '\t' ? '\t' : ' ');
  }
  const std::uint32_t width = std::max<std::uint32_t>(1, code_points(line.substr(begin, end - begin)));
  const std::string number = std::to_string(start.line);
  const std::string gutter(number.size(), ' ');
  out += fmt::format(" {} {} {}{}{}\n", style.paint(number, kBlue), style.paint("|", kBlue), prefix, printable(line),
                     suffix);
  out += fmt::format(" {} {} {}{}\n", gutter, style.paint("|", kBlue), padding,
                     style.paint(std::string(width, '^'), caret_color));
}

}  // namespace

std::string render_text(const SourceManager& sources, const DiagnosticSink& sink, const TextOptions& options) {
  const Style style{options.color};
  std::string out;
  for (const Diagnostic& d : sink.diagnostics()) {
    const bool error = d.severity == Severity::error;
    const bool warning = d.severity == Severity::warning;
    const char* color = error ? kRed : warning ? kYellow : kCyan;
    const std::string head = fmt::format("{}[{}]", error ? "error" : warning ? "warning" : "note", d.code);
    if (d.range.valid()) {
      out += fmt::format("{}: {}: {}\n", style.paint(location(sources, d.range), kBold), style.paint(head, color),
                         style.paint(escape_controls(d.message), kBold));
      append_snippet(out, sources, d.range, style, color);
    } else {
      out += fmt::format("{}: {}\n", style.paint(head, color), style.paint(escape_controls(d.message), kBold));
    }
    for (const DiagnosticNote& note : d.notes) {
      if (note.range.valid()) {
        out += fmt::format("{}: {}: {}\n", style.paint(location(sources, note.range), kBold),
                           style.paint("note", kCyan), escape_controls(note.message));
        append_snippet(out, sources, note.range, style, kCyan);
      } else {
        out += fmt::format("{}: {}\n", style.paint("note", kCyan), escape_controls(note.message));
      }
    }
    for (const std::string& help : d.help)
      out += fmt::format("{}: {}\n", style.paint("help", kCyan), escape_controls(help));
  }
  if (sink.dropped_count() > 0) {
    out += fmt::format("{}: {} more diagnostics not shown\n", style.paint("note", kCyan), sink.dropped_count());
  }
  if (sink.error_count() > 0 || sink.warning_count() > 0) {
    out += fmt::format("{} error{}, {} warning{}", sink.error_count(), sink.error_count() == 1 ? "" : "s",
                       sink.warning_count(), sink.warning_count() == 1 ? "" : "s");
    if (sink.notice_count() > 0)
      out += fmt::format(", {} note{}", sink.notice_count(), sink.notice_count() == 1 ? "" : "s");
    out += "\n";
  }
  return out;
}

namespace {

void write_location(JsonWriter& json, const SourceManager& sources, SourceRange range) {
  if (!range.valid()) return;
  const LineColumn begin = sources.line_column(range.file, range.begin);
  const LineColumn end = sources.line_column(range.file, range.end);
  json.key("file").value(sources.path(range.file));
  json.key("line").value(static_cast<std::int64_t>(begin.line));
  json.key("column").value(static_cast<std::int64_t>(begin.column));
  json.key("end_line").value(static_cast<std::int64_t>(end.line));
  json.key("end_column").value(static_cast<std::int64_t>(end.column));
}

}  // namespace

std::string render_json(const SourceManager& sources, const DiagnosticSink& sink) {
  JsonWriter json;
  json.begin_object();
  json.key("diagnostics").begin_array();
  for (const Diagnostic& d : sink.diagnostics()) {
    json.begin_object();
    json.key("severity")
        .value(d.severity == Severity::error     ? "error"
               : d.severity == Severity::warning ? "warning"
                                                 : "note");
    json.key("code").value(d.code);
    json.key("message").value(d.message);
    write_location(json, sources, d.range);
    json.key("notes").begin_array();
    for (const DiagnosticNote& note : d.notes) {
      json.begin_object();
      json.key("message").value(note.message);
      write_location(json, sources, note.range);
      json.end_object();
    }
    json.end_array();
    json.key("help").begin_array();
    for (const std::string& help : d.help) json.value(help);
    json.end_array();
    json.end_object();
  }
  json.end_array();
  json.key("errors").value(sink.error_count());
  json.key("warnings").value(sink.warning_count());
  json.key("dropped").value(sink.dropped_count());
  json.end_object();
  return json.str();
}

}  // namespace allot::emit
