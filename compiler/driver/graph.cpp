// `allot graph`: the checked policy's quota tree, as SVG or DOT.
#include "compiler/emit/graph.h"

#include <fmt/format.h>

#include "compiler/driver/commands.h"
#include "compiler/driver/io.h"
#include "compiler/emit/diagnostics.h"

namespace allot::driver {

int run_graph(const GraphOptions& options, Streams& streams) {
  const std::unique_ptr<CheckResult> result = check_policy(options.request);
  CheckResult& r = *result;
  r.sink.sort();
  const bool color =
      options.color == ColorMode::always || (options.color == ColorMode::automatic && streams.err_is_terminal);
  streams.err << emit::render_text(r.sources, r.sink, emit::TextOptions{color});
  if (r.sink.has_errors() || !r.policy) return exit_status(r);
  GraphFormat format = options.format;
  if (format == GraphFormat::automatic) {
    const std::string& o = options.output;
    format = o.size() >= 4 && o.compare(o.size() - 4, 4, ".dot") == 0 ? GraphFormat::dot : GraphFormat::svg;
  }
  const std::string text =
      format == GraphFormat::dot ? emit::render_graph_dot(*r.policy) : emit::render_graph_svg(*r.policy);
  if (const auto written = write_output(options.output, text, streams.out); !written) {
    return report_failure(streams, fmt::format("cannot write `{}`: {}", options.output, written.error().reason));
  }
  return kExitOk;
}

}  // namespace allot::driver
