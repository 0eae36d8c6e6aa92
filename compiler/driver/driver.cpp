#include "compiler/driver/driver.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <set>
#include <sstream>

#include "compiler/base/diagnostic.h"
#include "compiler/emit/diagnostics.h"
#include "compiler/emit/sarif.h"
#include "compiler/sema/analyze.h"
#include "compiler/syntax/parser.h"
#include "compiler/verify/state.h"
#include "compiler/verify/verify.h"

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
  --format=text|json|sarif
                      output format (default: text; sarif is SARIF 2.1.0)
  --state FILE        also prove that the change from the deployed policy
                      named in FILE (docs/state.md) is allowed
  --timeout-ms N      per-obligation solver timeout (default: 10000)
  --deny-warnings     exit 1 when there are warnings
  --color=auto|always|never
  -q, --quiet         print nothing when the policy is clean

exit status: 0 clean, 1 policy errors, 2 usage or I/O errors
)";

enum class Format { text, json, sarif };

struct CheckOptions {
  Format format = Format::text;
  bool deny_warnings = false;
  bool quiet = false;
  std::string color = "auto";
  std::string state;
  long long timeout_ms = 10000;
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

std::string today() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  return fmt::format("{:04}-{:02}-{:02}", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

// `--state FILE`: loads the live state and the deployed policy it names, and
// proves the change to `next` allowed. False on a usage or I/O problem (the
// state file unreadable or invalid, the deployed policy missing or broken).
bool check_state(const std::string& path, const model::Policy& next, SourceManager& sources, DiagnosticSink& sink,
                 Streams& streams) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    streams.err << fmt::format("allot: cannot read state file `{}`\n", path);
    return false;
  }
  std::ostringstream text;
  text << in.rdbuf();
  const FileId file = sources.add(path, text.str());
  const std::optional<verify::LiveState> state = verify::parse_state(sources, file, today(), sink);
  if (!state) return false;
  DiagnosticSink deployed_sink;
  syntax::LoadResult loaded = syntax::load(sources, state->policy_files, deployed_sink);
  std::optional<model::Policy> deployed;
  if (!loaded.io_error) deployed = sema::analyze(sources, loaded.files, deployed_sink);
  if (loaded.io_error || !deployed || deployed_sink.has_errors()) {
    Diagnostic& d = sink.error("E0228", state->policy_range, "the deployed policy named by the state does not check");
    for (const Diagnostic& problem : deployed_sink.diagnostics()) {
      if (problem.severity != Severity::error) continue;
      d.note(fmt::format("{}: {}", problem.code, problem.message), problem.range);
      if (d.notes.size() >= 3) break;
    }
    if (loaded.io_error) d.note("a file of the deployed policy could not be read");
    d.add_help("`policy` in the state file names the deployed `.allot` files, relative to the state file");
    return false;
  }
  verify::check_change(*deployed, next, *state, sink);
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
    } else if (a == "--format=sarif") {
      options.format = Format::sarif;
    } else if (a == "--format" && i + 1 < args.size()) {
      const std::string& f = args[++i];
      if (f == "text") {
        options.format = Format::text;
      } else if (f == "json") {
        options.format = Format::json;
      } else if (f == "sarif") {
        options.format = Format::sarif;
      } else {
        return usage_error(streams, fmt::format("unknown format `{}`", f));
      }
    } else if (a.rfind("--format=", 0) == 0) {
      return usage_error(streams, fmt::format("unknown format `{}`", a.substr(9)));
    } else if (a == "--state" || a.rfind("--state=", 0) == 0) {
      if (a == "--state") {
        if (i + 1 >= args.size()) return usage_error(streams, "`--state` needs a file");
        options.state = args[++i];
      } else {
        options.state = a.substr(8);
      }
      if (options.state.empty()) return usage_error(streams, "`--state` needs a file");
    } else if (a == "--timeout-ms" || a.rfind("--timeout-ms=", 0) == 0) {
      std::string value;
      if (a == "--timeout-ms") {
        if (i + 1 >= args.size()) return usage_error(streams, "`--timeout-ms` needs a number");
        value = args[++i];
      } else {
        value = a.substr(13);
      }
      if (value.empty() || value.size() > 9 || value.find_first_not_of("0123456789") != std::string::npos ||
          std::stoll(value) == 0) {
        return usage_error(streams, fmt::format("invalid timeout `{}`: a number of milliseconds, at least 1", value));
      }
      options.timeout_ms = std::stoll(value);
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
  std::optional<model::Policy> policy;
  if (!loaded.io_error) policy = sema::analyze(sources, loaded.files, sink);
  const std::size_t checked_files = sources.file_count();
  verify::Options verify_options;
  verify_options.timeout = std::chrono::milliseconds(options.timeout_ms);
  if (policy && !sink.has_errors()) verify::verify(sources, *policy, sink, verify_options);
  bool state_error = false;
  if (policy && !sink.has_errors() && !options.state.empty()) {
    state_error = !check_state(options.state, *policy, sources, sink, streams);
  }
  sink.sort();

  if (options.format == Format::json) {
    streams.out << emit::render_json(sources, sink);
  } else if (options.format == Format::sarif) {
    streams.out << emit::render_sarif(sources, sink, kVersion);
  } else {
    const bool color = options.color == "always" || (options.color == "auto" && streams.err_is_terminal);
    const std::string text = emit::render_text(sources, sink, emit::TextOptions{color});
    streams.err << text;
    if (!options.quiet && !sink.has_errors() && sink.warning_count() == 0) {
      streams.out << fmt::format("ok: {} file{} checked, no problems\n", checked_files, checked_files == 1 ? "" : "s");
    }
  }
  if (loaded.io_error || state_error) return kExitUsage;
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
