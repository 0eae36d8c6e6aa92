// `allot state` (from allotd) and `allot apply POLICY|PLAN`: the live state
// of a node as docs/state.md reads it, and a change proved against it before
// it is carried out, step by step, through the daemon.
#include <fmt/format.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <filesystem>

#include "compiler/driver/commands.h"
#include "compiler/driver/io.h"
#include "compiler/emit/diagnostics.h"
#include "compiler/emit/plan_toml.h"
#include "compiler/plan/sha256.h"
#include "runtime/api/client.h"

namespace allot::driver {
namespace {

namespace fs = std::filesystem;
using api::Json;

std::string today() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  return fmt::format("{:04}-{:02}-{:02}", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

std::string text_of(const Json* j) {
  if (!j) return {};
  if (const std::string* s = j->as_string()) return *s;
  return {};
}

std::int64_t int_of(const Json* j) { return j ? j->as_int().value_or(0) : 0; }

// One request to allotd; the reply when it says ok, else the reason.
tl::expected<Json, std::string> ask(const std::string& socket, const api::Request& request) {
  const tl::expected<Json, api::CallError> reply = api::call(socket, request, 120000);
  if (!reply) return tl::unexpected(reply.error().message);
  const Json* ok = reply->find("ok");
  if (ok && ok->as_bool() && *ok->as_bool()) return *reply;
  const Json* e = reply->find("error");
  return tl::unexpected(fmt::format("allotd refused: {} ({})", text_of(e ? e->find("message") : nullptr),
                                    text_of(e ? e->find("code") : nullptr)));
}

std::string socket_of(const std::string& given) { return given.empty() ? api::default_socket_path(false) : given; }

std::string absolute(const std::string& path) { return fs::absolute(path).lexically_normal().string(); }

// The files of the policy a plan was compiled from (`[[sources]]`, paths as
// given to `allot compile`, read from here), each still the bytes that were
// compiled. Empty, with `error`, when one is missing or changed.
std::vector<std::string> verified_sources(const std::vector<std::pair<std::string, std::string>>& sources,
                                          const std::string& what, std::string& error) {
  std::vector<std::string> files;
  for (const auto& [path, sha] : sources) {
    const tl::expected<std::string, IoError> text = read_whole_file(path);
    if (!text) {
      error = fmt::format("{} was compiled from `{}`, which cannot be read here: {}", what, path, text.error().reason);
      return {};
    }
    if (!sha.empty() && plan::sha256_hex(*text) != sha) {
      error = fmt::format("{} was compiled from `{}`, which has changed since", what, path);
      return {};
    }
    files.push_back(absolute(path));
  }
  if (files.empty()) error = fmt::format("{} names no policy files (`[[sources]]`)", what);
  return files;
}

// The deployed policy: `given`, else the files the plan in force was
// compiled from.
std::vector<std::string> deployed_policy(const Json& state, const std::vector<std::string>& given, const char* option,
                                         std::string& error) {
  if (!given.empty()) {
    std::vector<std::string> files(given.size());
    std::transform(given.begin(), given.end(), files.begin(), absolute);
    return files;
  }
  std::vector<std::pair<std::string, std::string>> sources;
  const Json* plan = state.find("plan");
  if (const Json* list = plan ? plan->find("sources") : nullptr; list && list->as_array()) {
    for (const Json& s : *list->as_array()) sources.emplace_back(text_of(s.find("path")), text_of(s.find("sha256")));
  }
  std::vector<std::string> files = verified_sources(sources, "the plan in force", error);
  if (!error.empty()) error += fmt::format("; name the deployed policy with `{}`", option);
  return files;
}

// `2`, or `"1500m"` for a fraction: exact in the units parse_live_amount reads.
std::string milli_amount(std::int64_t milli) {
  if (milli % 1000 == 0) return std::to_string(milli / 1000);
  return fmt::format("\"{}m\"", milli);
}

std::string amounts(const Json* r) {
  std::string out = "gpu = " + milli_amount(int_of(r ? r->find("gpu_milli") : nullptr));
  if (const std::int64_t cpu = int_of(r ? r->find("cpu_milli") : nullptr); cpu > 0)
    out += ", cpu = " + milli_amount(cpu);
  if (const std::int64_t mib = int_of(r ? r->find("memory_mib") : nullptr); mib > 0)
    out += fmt::format(", memory = \"{}MiB\"", mib);
  return "{ " + out + " }";
}

}  // namespace

std::string render_live_state(const Json& state, const std::vector<std::string>& policy_files,
                              const std::string& as_of) {
  const Json* node = state.find("node");
  const Json* plan = state.find("plan");
  std::string out = fmt::format("# The live state of node `{}`, exported by allotd (`allot state`, docs/state.md).\n",
                                text_of(node ? node->find("name") : nullptr));
  std::string files;
  for (const std::string& f : policy_files) files += (files.empty() ? "" : ", ") + emit::toml_string(f);
  out += fmt::format("policy = [{}]\n", files);
  out += fmt::format("plan = {}\n", emit::toml_string(text_of(plan ? plan->find("fingerprint") : nullptr)));
  out += fmt::format("as_of = {}\n", as_of);
  out += fmt::format("\n[pools.{}]\nstatus = \"running\"\nnodes = [\n  {{ name = {}, status = {} }},\n]\n",
                     emit::toml_string(text_of(node ? node->find("pool") : nullptr)),
                     emit::toml_string(text_of(node ? node->find("name") : nullptr)),
                     emit::toml_string(text_of(node ? node->find("status") : nullptr)));
  const Json* scopes = state.find("scopes");
  if (!scopes || !scopes->as_array()) return out;
  for (const Json& s : *scopes->as_array()) {
    out += fmt::format("\n[scopes.{}]\nused = {}\nheld = {}\n", emit::toml_string(text_of(s.find("path"))),
                       amounts(s.find("used")), amounts(s.find("held")));
    const Json* jobs = s.find("jobs");
    if (!jobs || !jobs->as_array()) continue;
    if (jobs->as_array()->empty()) {
      out += "jobs = []\n";
      continue;
    }
    out += "jobs = [\n";
    for (const Json& j : *jobs->as_array()) {
      const Json* preemptible = j.find("preemptible");
      out += fmt::format("  {{ id = {}, state = {}, kind = {}, preemptible = {} }},\n", int_of(j.find("id")),
                         emit::toml_string(text_of(j.find("state"))), emit::toml_string(text_of(j.find("kind"))),
                         preemptible && preemptible->as_bool() && *preemptible->as_bool() ? "true" : "false");
    }
    out += "]\n";
  }
  return out;
}

int run_live_state(const LiveStateOptions& options, Streams& streams) {
  const tl::expected<Json, std::string> state = ask(socket_of(options.socket), api::StateRequest{});
  if (!state) return report_failure(streams, "cannot read the live state: " + state.error());
  std::string error;
  const std::vector<std::string> files = deployed_policy(*state, options.deployed, "--policy", error);
  if (!error.empty()) return report_failure(streams, error);
  const std::string text = render_live_state(*state, files, today());
  if (!write_output(options.output, text, streams.out))
    return report_failure(streams, fmt::format("cannot write `{}`", options.output));
  if (options.output != "-") streams.out << fmt::format("ok: wrote the live state to `{}`\n", options.output);
  return kExitOk;
}

namespace {

// A scratch directory for the state file and the plans of the steps,
// removed when the apply ends.
struct Scratch {
  fs::path dir;
  Scratch() {
    std::error_code ec;
    dir = fs::temp_directory_path(ec) / fmt::format("allot-apply-{}", ::getpid());
    fs::create_directories(dir, ec);
  }
  ~Scratch() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
};

// `[[sources]]` of a plan file.
std::optional<std::vector<std::pair<std::string, std::string>>> plan_sources(const std::string& path,
                                                                             std::string& error) {
  const tl::expected<std::string, IoError> text = read_whole_file(path);
  if (!text) {
    error = fmt::format("cannot read plan `{}`: {}", path, text.error().reason);
    return std::nullopt;
  }
  std::vector<std::pair<std::string, std::string>> out;
  try {
    const toml::table root = toml::parse(*text, path);
    if (const toml::array* sources = root["sources"].as_array()) {
      for (const toml::node& s : *sources) {
        const toml::table* t = s.as_table();
        if (!t) continue;
        out.emplace_back((*t)["path"].value_or(std::string()), (*t)["sha256"].value_or(std::string()));
      }
    }
  } catch (const toml::parse_error& e) {
    error = fmt::format("`{}` is not a plan: {}", path, std::string(e.description()));
    return std::nullopt;
  }
  return out;
}

// One line for the daemon's log: the codes and messages of the errors.
std::string refusal_summary(const CheckResult& r) {
  std::string out;
  for (const Diagnostic& d : r.sink.diagnostics()) {
    if (d.severity != Severity::error) continue;
    out += (out.empty() ? "" : "; ") + fmt::format("{}: {}", d.code, d.message);
  }
  if (out.size() > api::kMaxRefusalBytes) out.resize(api::kMaxRefusalBytes);
  return out;
}

// The plan of the state after `done` steps: the deployed policy with the
// first `done` steps of `final` applied, placed on the final plan's nodes
// (those of its pools) close to `previous`.
std::string step_plan_text(const model::Policy& deployed, const plan::Plan& final, std::size_t done,
                           const plan::Homes* previous, plan::Homes& homes, model::Policy& storage) {
  const std::vector<plan::Step> prefix(final.steps.begin(), final.steps.begin() + static_cast<long>(done));
  storage = plan::apply_steps(deployed, *final.policy, prefix);
  plan::Plan p;
  p.allot_version = final.allot_version;
  p.policy = &storage;
  p.inventory.source = final.inventory.source;
  for (const plan::InventoryNode& n : final.inventory.nodes) {
    if (storage.find_pool(n.pool)) p.inventory.nodes.push_back(n);
  }
  DiagnosticSink scratch;
  plan::PlaceOptions place;
  place.mode = plan::PlaceOptions::Mode::heuristic;
  p.placement = plan::place(storage, p.inventory, previous, place, scratch);
  // No policy file describes this state: the plan names none, so that no
  // later `allot state` takes the new policy for the one in force.
  p.has_migration = true;
  p.steps = prefix;
  homes = plan::homes_of(p.inventory, p.placement);
  return emit::render_plan_toml(p);
}

}  // namespace

int run_checked_apply(const CheckedApplyOptions& options, Streams& streams) {
  const std::string socket = socket_of(options.socket);
  const tl::expected<Json, std::string> state = ask(socket, api::StateRequest{});
  if (!state) return report_failure(streams, "cannot read the live state: " + state.error());
  const Json* node = state->find("node");
  const std::string node_name = text_of(node ? node->find("name") : nullptr);

  // The new policy: the files given, or those the given plan was compiled from.
  std::string error;
  std::vector<std::string> inputs;
  std::string given_plan;
  if (options.input.size() > 5 && options.input.compare(options.input.size() - 5, 5, ".toml") == 0) {
    given_plan = absolute(options.input);
    const auto sources = plan_sources(options.input, error);
    if (sources) inputs = verified_sources(*sources, fmt::format("plan `{}`", options.input), error);
  } else {
    inputs.push_back(options.input);
  }
  if (!error.empty()) return report_failure(streams, error);
  const std::vector<std::string> deployed = deployed_policy(*state, options.deployed, "--deployed", error);
  if (!error.empty()) return report_failure(streams, error);

  Scratch scratch;
  const std::string state_path = (scratch.dir / "state.toml").string();
  if (!write_output(state_path, render_live_state(*state, deployed, today()), streams.out))
    return report_failure(streams, fmt::format("cannot write `{}`", state_path));

  CheckRequest request;
  request.inputs = inputs;
  request.state = state_path;
  request.timeout = options.timeout;
  request.plan.emplace();
  request.plan->allot_version = kVersion;
  request.plan->inventory = options.inventory;
  std::unique_ptr<CheckResult> result = check_policy(request);
  const bool color =
      options.color == ColorMode::always || (options.color == ColorMode::automatic && streams.err_is_terminal);
  auto report = [&](CheckResult& r) {
    r.sink.sort();
    streams.err << emit::render_text(r.sources, r.sink, emit::TextOptions{color});
  };
  if (result->failure == Failure::input) {
    report(*result);
    return kExitUsage;
  }
  std::string refusal;
  if (result->failure == Failure::policy) {
    report(*result);
    if (!options.force) {
      streams.err << fmt::format(
          "allot: refused: the change is not safe for the live state of node `{}`; nothing was applied\n"
          "help: change the policy, or wait until the work it would break has ended; `--force` applies it anyway "
          "(the daemon logs who did)\n",
          node_name);
      return kExitPolicyError;
    }
    refusal = refusal_summary(*result);
    // Forced: the new plan in one step, placed without the live state.
    CheckRequest unchecked = request;
    unchecked.state.clear();
    result = check_policy(unchecked);
    if (result->failure != Failure::none) {
      report(*result);
      streams.err << "allot: the policy itself does not check; `--force` overrides only the live state\n";
      return exit_status(*result);
    }
    streams.err << fmt::format("allot: --force: applying the change to node `{}` despite the refusal\n", node_name);
  } else if (result->sink.warning_count() > 0) {
    report(*result);
  }
  const plan::Plan& final = *result->plan;
  streams.out << (refusal.empty() ? emit::render_migration_text(final, false)
                                  : std::string("migration: forced, not ordered: 1 step\n  1. install the new plan\n"));

  // The steps, in order; the last installs the plan itself.
  const std::size_t total = std::max<std::size_t>(1, final.steps.size());
  std::optional<plan::Homes> previous = result->previous;
  for (std::size_t i = 0; i < total; ++i) {
    const bool last = i + 1 == total;
    std::string label = "install the new plan";
    if (!final.steps.empty()) {
      label = emit::render_step(final, i, false);
      label.erase(0, label.find(' ') + 1);  // the number
    }
    std::string path = given_plan;
    if (!last || given_plan.empty()) {
      std::string text;
      if (last) {
        text = emit::render_plan_toml(final);
      } else {
        model::Policy storage;
        plan::Homes homes;
        text = step_plan_text(result->state->deployed, final, i + 1, previous ? &*previous : nullptr, homes, storage);
        previous = std::move(homes);
      }
      path = (scratch.dir / fmt::format("step-{}.toml", i + 1)).string();
      if (!write_output(path, text, streams.out))
        return report_failure(streams, fmt::format("cannot write `{}`", path));
    }
    api::ApplyRequest apply{path, !refusal.empty(), refusal};
    const tl::expected<Json, std::string> applied = ask(socket, apply);
    if (!applied) {
      streams.out << fmt::format("step {}/{}: {}: failed\n", i + 1, total, label);
      streams.err << fmt::format("allot: step {} failed: {}\n", i + 1, applied.error());
      if (i == 0) {
        streams.err << fmt::format("allot: no step was applied; node `{}` runs the plan it ran before\n", node_name);
      } else {
        streams.err << fmt::format(
            "allot: steps 1 to {} of {} are in force on node `{}` (a consistent plan); steps {} to {} were not "
            "applied\n",
            i, total, node_name, i + 1, total);
      }
      return kExitPolicyError;
    }
    streams.out << fmt::format("step {}/{}: {}: done\n", i + 1, total, label);
  }
  streams.out << fmt::format("ok: applied {} step{} to node `{}`\n", total, total == 1 ? "" : "s", node_name);
  return kExitOk;
}

}  // namespace allot::driver
