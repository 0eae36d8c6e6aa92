// Diagnostics: what every stage reports, with a stable code and a location.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "compiler/base/source.h"

namespace allot {

// A note reports a fact worth knowing that needs no change (an assertion the
// structure already implies): it never fails `--deny-warnings`.
enum class Severity { error, warning, note };

struct DiagnosticNote {
  std::string message;
  SourceRange range;  // may be invalid for a note without a location
};

struct Diagnostic {
  Severity severity = Severity::error;
  std::string code;  // stable, e.g. "E0104"; documented in docs/diagnostics.md
  std::string message;
  SourceRange range;
  std::vector<DiagnosticNote> notes;
  std::vector<std::string> help;

  Diagnostic& note(std::string text, SourceRange where = {}) {
    notes.push_back({std::move(text), where});
    return *this;
  }
  Diagnostic& add_help(std::string text) {
    help.push_back(std::move(text));
    return *this;
  }
};

// Collects diagnostics from every stage. Beyond `max_errors` errors further
// reports are counted but dropped, so hostile input cannot flood the output.
class DiagnosticSink {
 public:
  explicit DiagnosticSink(std::size_t max_errors = 200) : max_errors_(max_errors) {}

  Diagnostic& error(std::string code, SourceRange range, std::string message);
  Diagnostic& warning(std::string code, SourceRange range, std::string message);
  Diagnostic& notice(std::string code, SourceRange range, std::string message);

  const std::vector<Diagnostic>& diagnostics() const { return diagnostics_; }
  std::size_t error_count() const { return error_count_; }
  std::size_t warning_count() const { return warning_count_; }
  std::size_t notice_count() const { return notice_count_; }
  std::size_t dropped_count() const { return dropped_; }
  bool has_errors() const { return error_count_ > 0; }
  bool saturated() const { return error_count_ >= max_errors_; }

  // Orders diagnostics by file, offset, then code, so output is stable
  // whatever order the stages found them in.
  void sort();

 private:
  Diagnostic& push(Severity severity, std::string code, SourceRange range, std::string message);

  std::vector<Diagnostic> diagnostics_;
  Diagnostic overflow_;  // receives reports past the limit
  std::size_t max_errors_;
  std::size_t error_count_ = 0;
  std::size_t warning_count_ = 0;
  std::size_t notice_count_ = 0;
  std::size_t dropped_ = 0;
};

// Finds the candidate closest to `word` by edit distance, for "did you mean"
// notes. Returns an empty string when nothing is close enough.
std::string closest_match(std::string_view word, const std::vector<std::string_view>& candidates);

}  // namespace allot
