#include "compiler/base/diagnostic.h"

#include <algorithm>
#include <cctype>
#include <tuple>

namespace allot {

Diagnostic& DiagnosticSink::push(Severity severity, std::string code, SourceRange range, std::string message) {
  const bool is_error = severity == Severity::error;
  if (diagnostics_.size() >= max_errors_ * 2 || (is_error && error_count_ >= max_errors_)) {
    ++dropped_;
    if (is_error) ++error_count_;
    overflow_ = Diagnostic{};
    return overflow_;
  }
  if (is_error) {
    ++error_count_;
  } else if (severity == Severity::warning) {
    ++warning_count_;
  } else {
    ++notice_count_;
  }
  diagnostics_.push_back(Diagnostic{severity, std::move(code), std::move(message), range, {}, {}});
  return diagnostics_.back();
}

Diagnostic& DiagnosticSink::error(std::string code, SourceRange range, std::string message) {
  return push(Severity::error, std::move(code), range, std::move(message));
}

Diagnostic& DiagnosticSink::warning(std::string code, SourceRange range, std::string message) {
  return push(Severity::warning, std::move(code), range, std::move(message));
}

Diagnostic& DiagnosticSink::notice(std::string code, SourceRange range, std::string message) {
  return push(Severity::note, std::move(code), range, std::move(message));
}

void DiagnosticSink::sort() {
  std::stable_sort(diagnostics_.begin(), diagnostics_.end(), [](const Diagnostic& a, const Diagnostic& b) {
    return std::tie(a.range.file, a.range.begin, a.code) < std::tie(b.range.file, b.range.begin, b.code);
  });
}

namespace {

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      const bool same =
          std::tolower(static_cast<unsigned char>(a[i - 1])) == std::tolower(static_cast<unsigned char>(b[j - 1]));
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (same ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

}  // namespace

std::string closest_match(std::string_view word, const std::vector<std::string_view>& candidates) {
  // Allow roughly one edit per three characters, at least one.
  const std::size_t budget = std::max<std::size_t>(1, word.size() / 3);
  std::string_view best;
  std::size_t best_distance = budget + 1;
  for (std::string_view candidate : candidates) {
    if (candidate.size() > word.size() + budget || word.size() > candidate.size() + budget) continue;
    const std::size_t d = edit_distance(word, candidate);
    if (d < best_distance || (d == best_distance && candidate < best)) {
      best = candidate;
      best_distance = d;
    }
  }
  if (best_distance <= budget) return std::string(best);
  // A word cut short or with another ending (`serve` for `serving`): the
  // candidate that starts with all of it but its last letter, shortest
  // first, for words long enough to mean something.
  if (word.size() < 5) return {};
  const std::size_t stem = word.size() - 1;
  best = {};
  for (std::string_view candidate : candidates) {
    if (candidate.size() <= stem || candidate.size() > 2 * word.size()) continue;
    bool prefix = true;
    for (std::size_t i = 0; i < stem && prefix; ++i) {
      prefix =
          std::tolower(static_cast<unsigned char>(word[i])) == std::tolower(static_cast<unsigned char>(candidate[i]));
    }
    if (prefix &&
        (best.empty() || candidate.size() < best.size() || (candidate.size() == best.size() && candidate < best)))
      best = candidate;
  }
  return std::string(best);
}

}  // namespace allot
