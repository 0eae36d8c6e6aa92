// `allot check`: the pipeline without a plan, in text, JSON or SARIF.
#include <fmt/format.h>

#include "compiler/driver/commands.h"
#include "compiler/emit/diagnostics.h"
#include "compiler/emit/sarif.h"

namespace allot::driver {

int report_failure(Streams& streams, const std::string& message, int code) {
  streams.err << "allot: " << message << "\n";
  return code;
}

int run_check(const CheckOptions& options, Streams& streams) {
  const std::unique_ptr<CheckResult> result = check_policy(options.request);
  CheckResult& r = *result;
  r.sink.sort();
  if (options.format == Format::json) {
    streams.out << emit::render_json(r.sources, r.sink);
  } else if (options.format == Format::sarif) {
    streams.out << emit::render_sarif(r.sources, r.sink, kVersion);
  } else {
    const bool color =
        options.color == ColorMode::always || (options.color == ColorMode::automatic && streams.err_is_terminal);
    streams.err << emit::render_text(r.sources, r.sink, emit::TextOptions{color});
    if (!options.quiet && !r.sink.has_errors() && r.sink.warning_count() == 0) {
      streams.out << fmt::format("ok: {} file{} checked, no problems\n", r.policy_files,
                                 r.policy_files == 1 ? "" : "s");
    }
  }
  const int code = exit_status(r);
  if (code != kExitOk) return code;
  if (options.deny_warnings && r.sink.warning_count() > 0) return kExitPolicyError;
  return kExitOk;
}

}  // namespace allot::driver
