// `allot fmt`: each file parsed first (a file with syntax errors is
// reported and left as it is), then written back in the canonical layout
// through a temporary file renamed into place, and only when it changes.
#include <fmt/format.h>

#include <iostream>
#include <iterator>

#include "compiler/driver/commands.h"
#include "compiler/driver/io.h"
#include "compiler/emit/diagnostics.h"
#include "compiler/format/format.h"
#include "compiler/syntax/parser.h"

namespace allot::driver {
namespace {

// Standard input, at most `max_bytes` of it.
tl::expected<std::string, IoError> read_standard_input(std::size_t max_bytes) {
  std::string text;
  char buffer[65536];
  while (std::cin.read(buffer, sizeof buffer) || std::cin.gcount() > 0) {
    text.append(buffer, static_cast<std::size_t>(std::cin.gcount()));
    if (text.size() > max_bytes)
      return tl::unexpected(IoError{fmt::format("more than the limit of {} bytes", max_bytes)});
  }
  if (std::cin.bad()) return tl::unexpected(IoError{"cannot read standard input"});
  return text;
}

}  // namespace

int run_fmt(const FmtOptions& options, Streams& streams) {
  const bool color =
      options.color == ColorMode::always || (options.color == ColorMode::automatic && streams.err_is_terminal);
  SourceManager sources;
  DiagnosticSink sink;
  std::vector<std::string> files;
  std::vector<std::string> named;
  bool standard_input = false;
  for (const std::string& input : options.inputs) {
    if (input == "-") {
      standard_input = true;
    } else {
      named.push_back(input);
    }
  }
  bool unreadable = !expand_inputs(named, files, sink);
  syntax::ParseLimits limits;
  limits.max_file_bytes = options.max_file_bytes;
  bool syntax_errors = false;
  std::size_t changed = 0;

  auto format_one = [&](const std::string& shown, std::string text) -> std::optional<std::string> {
    const FileId id = sources.add(shown, std::move(text));
    if (!syntax::parse(sources, id, sink, limits)) {
      syntax_errors = true;
      return std::nullopt;
    }
    return format::format_policy(sources.text(id));
  };

  if (standard_input) {
    tl::expected<std::string, IoError> text = read_standard_input(options.max_file_bytes);
    if (!text) {
      sink.error("E0008", SourceRange{}, fmt::format("cannot read standard input: {}", text.error().reason));
      unreadable = true;
    } else if (std::optional<std::string> formatted = format_one("<stdin>", *text)) {
      if (options.check) {
        if (*formatted != *text) {
          streams.out << "<stdin>\n";
          ++changed;
        }
      } else {
        streams.out << *formatted;
      }
    }
  }
  for (const std::string& path : files) {
    std::string text;
    const syntax::ReadOutcome read = syntax::read_source_file(path, options.max_file_bytes, text);
    if (!read.ok) {
      sink.error(read.too_large ? "E0006" : "E0008", SourceRange{},
                 fmt::format("cannot read `{}`: {}", path, read.problem));
      unreadable = true;
      continue;
    }
    const std::optional<std::string> formatted = format_one(path, text);
    if (!formatted || *formatted == text) continue;
    ++changed;
    if (options.check) {
      streams.out << path << "\n";
      continue;
    }
    if (const auto written = write_output(path, *formatted, streams.out); !written) {
      sink.error("E0008", SourceRange{}, fmt::format("cannot write `{}`: {}", path, written.error().reason));
      unreadable = true;
    }
  }
  sink.sort();
  streams.err << emit::render_text(sources, sink, emit::TextOptions{color});
  if (unreadable) return kExitUsage;
  if (syntax_errors) return kExitPolicyError;
  if (options.check && changed > 0) {
    streams.err << fmt::format("{} file{} not in the canonical layout\nhelp: run `allot fmt` on {}\n", changed,
                               changed == 1 ? "" : "s", changed == 1 ? "it" : "them");
    return kExitPolicyError;
  }
  return kExitOk;
}

}  // namespace allot::driver
