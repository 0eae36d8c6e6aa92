// The `allot check` path on one file held in memory: parse, analyze, verify
// (short solver timeouts) and render the diagnostics as text and JSON; and
// the hand-written lexer against the grammar's generated one.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "compiler/emit/diagnostics.h"
#include "compiler/sema/analyze.h"
#include "compiler/syntax/lexer.h"
#include "compiler/syntax/parser.h"
#include "compiler/verify/verify.h"

using namespace allot;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  if (find_invalid_utf8(input) == std::string_view::npos) {
    const std::vector<syntax::Lexeme> fast = syntax::lex(input);
    const std::vector<syntax::Lexeme> reference = syntax::reference_lex(input);
    if (fast.size() != reference.size()) __builtin_trap();
    for (std::size_t i = 0; i < fast.size(); ++i) {
      const syntax::Lexeme& a = fast[i];
      const syntax::Lexeme& b = reference[i];
      if (a.kind != b.kind || a.begin != b.begin || a.end != b.end || a.line != b.line || a.column != b.column)
        __builtin_trap();
    }
  }
  SourceManager sources;
  DiagnosticSink sink;
  const FileId file = sources.add("fuzz.allot", std::string(reinterpret_cast<const char*>(data), size));
  syntax::ParsedFile parsed = syntax::parse_recovering(sources, file, sink);
  if (parsed.file && !parsed.complete) {
    // What parsed of a broken file is still checked.
    std::vector<ast::File> files;
    files.push_back(std::move(*parsed.file));
    sema::analyze_partial(sources, files, sink);
  } else if (parsed.file) {
    std::vector<ast::File> files;
    files.push_back(std::move(*parsed.file));
    std::optional<model::Policy> policy = sema::analyze(sources, files, sink);
    if (policy && !sink.has_errors()) {
      verify::Options options;
      options.timeout = std::chrono::milliseconds(50);
      verify::verify(sources, *policy, sink, options);
    }
  }
  sink.sort();
  const std::string text = emit::render_text(sources, sink, emit::TextOptions{true});
  const std::string json = emit::render_json(sources, sink);
  // Rendered diagnostics never carry a raw escape or NUL from the input.
  for (char c : text)
    if (c == '\0') __builtin_trap();
  (void)json;
  return 0;
}
