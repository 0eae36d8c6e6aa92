// `allot compile` and `allot plan`: the pipeline with a plan, written as a
// plan file, a backend's files, or shown as a change.
#include <fmt/format.h>

#include <filesystem>

#include "compiler/backend/kueue.h"
#include "compiler/driver/commands.h"
#include "compiler/driver/io.h"
#include "compiler/emit/diagnostics.h"
#include "compiler/emit/plan_toml.h"

namespace allot::driver {
namespace {

// A problem with an input named by an option (an inventory, a previous
// plan) in one line, `allot: PATH:LINE: message`, as for other usage errors.
void render_input_problems(const CheckResult& r, Streams& streams) {
  for (const Diagnostic& d : r.sink.diagnostics()) {
    if (d.severity != Severity::error) continue;
    if (d.range.valid()) {
      const LineColumn at = r.sources.line_column(d.range.file, d.range.begin);
      streams.err << fmt::format("allot: {}:{}: {}\n", r.sources.path(d.range.file), at.line, d.message);
    } else {
      streams.err << fmt::format("allot: {}\n", d.message);
    }
  }
}

// `compile --target slurm|kueue -o DIR`: the target's files, or nothing when
// the target reports an error (a name clash, or a lossy rule with
// `--target-strict`).
template <typename Report>
int write_target(const CompileOptions& options, CheckResult& r, Report& report, Streams& streams,
                 const SlurmApplyHook* apply) {
  const plan::Plan& result = *r.plan;
  DiagnosticSink& sink = r.sink;
  backend::Lossy lossy(sink, options.target_options.strict);
  std::vector<backend::OutputFile> files;
  backend::SlurmConfig slurm;
  if (options.target == "slurm") {
    slurm = backend::build_slurm(result, lossy);
    files = backend::render_slurm(slurm);
  } else {
    files = backend::render_kueue(result, options.target_options, lossy);
  }
  if (sink.warning_count() > 0 || sink.has_errors()) report();
  if (sink.has_errors()) return kExitPolicyError;
  if (options.output == "-") {
    for (const backend::OutputFile& f : files) streams.out << fmt::format("==> {} <==\n{}", f.name, f.text);
    return kExitOk;
  }
  std::error_code ec;
  std::filesystem::create_directories(options.output, ec);
  if (ec) return report_failure(streams, fmt::format("cannot create directory `{}`: {}", options.output, ec.message()));
  for (const backend::OutputFile& f : files) {
    const std::string path = (std::filesystem::path(options.output) / f.name).string();
    if (!write_output(path, f.text, streams.out))
      return report_failure(streams, fmt::format("cannot write `{}`", path));
  }
  std::string names;
  for (const backend::OutputFile& f : files) names += (names.empty() ? "" : ", ") + f.name;
  streams.out << fmt::format("ok: wrote {} to `{}` ({})\n", options.target, options.output, names);
  if (apply && options.target == "slurm") {
    backend::SlurmConfig before;
    if (r.state) {
      plan::Plan deployed_plan;
      deployed_plan.policy = &r.state->deployed;
      DiagnosticSink ignored;
      backend::Lossy quiet(ignored, false);
      before = backend::build_slurm(deployed_plan, quiet);
    }
    return (*apply)(slurm, before, files.front().text);
  }
  return kExitOk;
}

}  // namespace

int run_compile(const CompileOptions& options, Streams& streams, const SlurmApplyHook* apply) {
  const std::unique_ptr<CheckResult> result = check_policy(options.request);
  CheckResult& r = *result;
  const bool color =
      options.color == ColorMode::always || (options.color == ColorMode::automatic && streams.err_is_terminal);
  auto report = [&] {
    r.sink.sort();
    streams.err << emit::render_text(r.sources, r.sink, emit::TextOptions{color});
  };
  if (r.failed_stage == FailedStage::plan_inputs) {
    render_input_problems(r, streams);
    return kExitUsage;
  }
  if (r.failure != Failure::none) {
    report();
    return exit_status(r);
  }
  if (options.target != "plan") return write_target(options, r, report, streams, apply);
  if (r.sink.warning_count() > 0) report();
  const plan::Plan& plan = *r.plan;
  if (options.dry_run) {
    const bool out_color =
        options.color == ColorMode::always || (options.color == ColorMode::automatic && streams.out_is_terminal);
    emit::PlanTextOptions text_options;
    text_options.color = out_color;
    text_options.previous = r.previous ? &*r.previous : nullptr;
    streams.out << emit::render_plan_text(plan, text_options);
    if (!options.output.empty() && !write_output(options.output, emit::render_plan_toml(plan), streams.out)) {
      return report_failure(streams, fmt::format("cannot write `{}`", options.output));
    }
    return kExitOk;
  }
  if (!write_output(options.output, emit::render_plan_toml(plan), streams.out)) {
    return report_failure(streams, fmt::format("cannot write `{}`", options.output));
  }
  if (options.output != "-") {
    streams.out << fmt::format("ok: wrote plan `{}` ({} step{}, {} placement)\n", options.output, plan.steps.size(),
                               plan.steps.size() == 1 ? "" : "s",
                               plan.placement.pools.empty() ? "no" : plan::to_string(plan.placement.pools[0].method));
  }
  return kExitOk;
}

}  // namespace allot::driver
