#include "compiler/driver/driver.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <ostream>
#include <set>

#include "compiler/base/diagnostic.h"
#include "compiler/emit/diagnostics.h"
#include "compiler/sema/analyze.h"
#include "compiler/syntax/parser.h"

namespace allot::driver {
namespace {

constexpr const char* kVersion = "0.1.0";

constexpr const char* kUsage = R"(usage: allot <command> [options]

commands:
  check FILE|DIR...   parse and check a policy; a directory means every
                      `.allot` file below it
  help                show this help
  version             show the version

check options:
  --format=text|json  output format (default: text)
  --deny-warnings     exit 1 when there are warnings
  --color=auto|always|never
  -q, --quiet         print nothing when the policy is clean

exit status: 0 clean, 1 policy errors, 2 usage or I/O errors
)";

enum class Format { text, json };

struct CheckOptions {
  Format format = Format::text;
  bool deny_warnings = false;
  bool quiet = false;
  std::string color = "auto";
  std::vector<std::string> inputs;
};

int usage_error(Streams& streams, const std::string& message) {
  streams.err << "allot: " << message << "\n"
              << "try `allot help`\n";
  return kExitUsage;
}

// Expands directories into their `.allot` files, sorted for stable output.
bool expand_inputs(const std::vector<std::string>& inputs, std::vector<std::string>& files, Streams& streams) {
  for (const std::string& input : inputs) {
    std::error_code ec;
    if (std::filesystem::is_directory(input, ec)) {
      std::vector<std::string> found;
      for (auto it = std::filesystem::recursive_directory_iterator(input, ec);
           !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
        if (it->is_regular_file(ec) && it->path().extension() == ".allot") found.push_back(it->path().string());
      }
      if (ec) {
        streams.err << fmt::format("allot: cannot read directory `{}`: {}\n", input, ec.message());
        return false;
      }
      if (found.empty()) {
        streams.err << fmt::format("allot: no `.allot` files in `{}`\n", input);
        return false;
      }
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else {
      files.push_back(input);
    }
  }
  return true;
}

int run_check(const std::vector<std::string>& args, Streams& streams) {
  CheckOptions options;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--format=text") {
      options.format = Format::text;
    } else if (a == "--format=json") {
      options.format = Format::json;
    } else if (a == "--format" && i + 1 < args.size()) {
      const std::string& f = args[++i];
      if (f == "text") {
        options.format = Format::text;
      } else if (f == "json") {
        options.format = Format::json;
      } else {
        return usage_error(streams, fmt::format("unknown format `{}`", f));
      }
    } else if (a.rfind("--format=", 0) == 0) {
      return usage_error(streams, fmt::format("unknown format `{}`", a.substr(9)));
    } else if (a == "--deny-warnings") {
      options.deny_warnings = true;
    } else if (a == "-q" || a == "--quiet") {
      options.quiet = true;
    } else if (a.rfind("--color=", 0) == 0) {
      options.color = a.substr(8);
      if (options.color != "auto" && options.color != "always" && options.color != "never") {
        return usage_error(streams, fmt::format("unknown color mode `{}`", options.color));
      }
    } else if (a == "--") {
      options.inputs.insert(options.inputs.end(), args.begin() + static_cast<long>(i) + 1, args.end());
      break;
    } else if (!a.empty() && a[0] == '-') {
      return usage_error(streams, fmt::format("unknown option `{}`", a));
    } else {
      options.inputs.push_back(a);
    }
  }
  if (options.inputs.empty()) return usage_error(streams, "`check` needs at least one file or directory");

  std::vector<std::string> files;
  if (!expand_inputs(options.inputs, files, streams)) return kExitUsage;

  SourceManager sources;
  DiagnosticSink sink;
  syntax::LoadResult loaded = syntax::load(sources, files, sink);
  if (!loaded.io_error) sema::analyze(sources, loaded.files, sink);
  sink.sort();

  if (options.format == Format::json) {
    streams.out << emit::render_json(sources, sink);
  } else {
    const bool color = options.color == "always" || (options.color == "auto" && streams.err_is_terminal);
    const std::string text = emit::render_text(sources, sink, emit::TextOptions{color});
    streams.err << text;
    if (!options.quiet && !sink.has_errors() && sink.warning_count() == 0) {
      streams.out << fmt::format("ok: {} file{} checked, no problems\n", sources.file_count(),
                                 sources.file_count() == 1 ? "" : "s");
    }
  }
  if (loaded.io_error) return kExitUsage;
  if (sink.has_errors()) return kExitPolicyError;
  if (options.deny_warnings && sink.warning_count() > 0) return kExitPolicyError;
  return kExitOk;
}

}  // namespace

int run(const std::vector<std::string>& args, Streams streams) {
  if (args.empty()) {
    streams.err << kUsage;
    return kExitUsage;
  }
  const std::string& command = args[0];
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (command == "check") return run_check(rest, streams);
  if (command == "help" || command == "--help" || command == "-h") {
    streams.out << kUsage;
    return kExitOk;
  }
  if (command == "version" || command == "--version") {
    streams.out << "allot " << kVersion << "\n";
    return kExitOk;
  }
  return usage_error(streams, fmt::format("unknown command `{}`", command));
}

}  // namespace allot::driver
