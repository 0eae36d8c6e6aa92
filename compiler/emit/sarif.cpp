#include "compiler/emit/sarif.h"

#include <set>

#include "compiler/emit/json.h"

namespace allot::emit {
namespace {

// Percent-encodes what a URI reference may not hold; keeps `/`.
std::string uri(std::string_view path) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : path) {
    const auto b = static_cast<unsigned char>(c);
    if ((b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') || c == '-' || c == '.' ||
        c == '_' || c == '~' || c == '/') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[b >> 4]);
      out.push_back(kHex[b & 15]);
    }
  }
  return out;
}

void physical_location(JsonWriter& json, const SourceManager& sources, SourceRange range) {
  const LineColumn begin = sources.line_column(range.file, range.begin);
  const LineColumn end = sources.line_column(range.file, range.end);
  json.key("physicalLocation").begin_object();
  json.key("artifactLocation").begin_object().key("uri").value(uri(sources.path(range.file))).end_object();
  json.key("region").begin_object();
  json.key("startLine").value(static_cast<std::int64_t>(begin.line));
  json.key("startColumn").value(static_cast<std::int64_t>(begin.column));
  json.key("endLine").value(static_cast<std::int64_t>(end.line));
  json.key("endColumn").value(static_cast<std::int64_t>(end.column));
  json.end_object();
  json.end_object();
}

}  // namespace

std::string render_sarif(const SourceManager& sources, const DiagnosticSink& sink, const std::string& tool_version) {
  std::set<std::string> codes;
  for (const Diagnostic& d : sink.diagnostics()) codes.insert(d.code);
  const std::vector<std::string> rules(codes.begin(), codes.end());
  auto rule_index = [&](const std::string& code) {
    for (std::size_t i = 0; i < rules.size(); ++i) {
      if (rules[i] == code) return i;
    }
    return std::size_t{0};
  };

  JsonWriter json;
  json.begin_object();
  json.key("$schema").value("https://json.schemastore.org/sarif-2.1.0.json");
  json.key("version").value("2.1.0");
  json.key("runs").begin_array().begin_object();
  json.key("tool").begin_object().key("driver").begin_object();
  json.key("name").value("allot");
  json.key("version").value(tool_version);
  json.key("rules").begin_array();
  for (const std::string& code : rules) {
    json.begin_object();
    json.key("id").value(code);
    // helpUri must be an absolute URI (SARIF 2.1.0 3.49.12, schema "format": "uri"); the
    // reference page is repository-relative, so point at it from the help text instead.
    json.key("help").begin_object().key("text").value("see docs/diagnostics.md#" + code).end_object();
    json.end_object();
  }
  json.end_array();
  json.end_object().end_object();
  json.key("columnKind").value("unicodeCodePoints");
  json.key("results").begin_array();
  for (const Diagnostic& d : sink.diagnostics()) {
    json.begin_object();
    json.key("ruleId").value(d.code);
    json.key("ruleIndex").value(rule_index(d.code));
    json.key("level").value(d.severity == Severity::error     ? "error"
                            : d.severity == Severity::warning ? "warning"
                                                              : "note");
    std::string text = d.message;
    for (const std::string& help : d.help) text += "\nhelp: " + help;
    json.key("message").begin_object().key("text").value(text).end_object();
    json.key("locations").begin_array();
    if (d.range.valid()) {
      json.begin_object();
      physical_location(json, sources, d.range);
      json.end_object();
    }
    json.end_array();
    json.key("relatedLocations").begin_array();
    std::int64_t id = 0;
    for (const DiagnosticNote& note : d.notes) {
      json.begin_object();
      json.key("id").value(id++);
      if (note.range.valid()) physical_location(json, sources, note.range);
      json.key("message").begin_object().key("text").value(note.message).end_object();
      json.end_object();
    }
    json.end_array();
    json.end_object();
  }
  json.end_array();
  json.end_object().end_array();
  json.end_object();
  return json.str() + "\n";
}

}  // namespace allot::emit
