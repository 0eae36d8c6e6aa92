#include "runtime/api/client.h"

#include <fmt/format.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>

#include "runtime/api/cli.h"

namespace allot::api {

std::string default_socket_path(bool for_daemon) {
  if (const char* env = std::getenv("ALLOT_SOCKET"); env && *env) return env;
  const std::string system_path = "/run/allot/allotd.sock";
  struct stat st {};
  if (::stat("/run/allot", &st) == 0 && S_ISDIR(st.st_mode)) return system_path;
  if (for_daemon && ::geteuid() == 0) return system_path;
  if (const char* xdg = std::getenv("XDG_RUNTIME_DIR"); xdg && *xdg) return std::string(xdg) + "/allotd.sock";
  return system_path;
}

namespace {

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

tl::expected<Json, CallError> call(const std::string& socket_path, const Request& request, int timeout_ms) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof(addr.sun_path))
    return tl::unexpected(CallError{"socket path too long: " + socket_path});
  std::memcpy(addr.sun_path, socket_path.data(), socket_path.size());
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return tl::unexpected(CallError{std::string("socket: ") + std::strerror(errno)});
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0)
    return tl::unexpected(
        CallError{fmt::format("cannot connect to allotd at {}: {}", socket_path, std::strerror(errno))});
  const std::string line = encode_request(request).dump() + "\n";
  if (line.size() > kMaxRequestLine) return tl::unexpected(CallError{"request too large"});
  for (std::size_t sent = 0; sent < line.size();) {
    const ssize_t n = ::send(fd.get(), line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return tl::unexpected(CallError{std::string("send: ") + std::strerror(errno)});
    sent += static_cast<std::size_t>(n);
  }
  std::string reply;
  const std::int64_t deadline = now_ms() + timeout_ms;
  char buf[65536];
  for (;;) {
    const std::size_t newline = reply.find('\n');
    if (newline != std::string::npos) {
      reply.resize(newline);
      break;
    }
    const std::int64_t left = deadline - now_ms();
    if (left <= 0) return tl::unexpected(CallError{"timed out waiting for allotd"});
    pollfd p{fd.get(), POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(left));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    const ssize_t n = ::recv(fd.get(), buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return tl::unexpected(CallError{std::string("recv: ") + std::strerror(errno)});
    if (n == 0) return tl::unexpected(CallError{"allotd closed the connection without a reply"});
    reply.append(buf, static_cast<std::size_t>(n));
    if (reply.size() > (64u << 20)) return tl::unexpected(CallError{"reply too large"});
  }
  JsonParseResult parsed = parse_json(reply);
  if (const JsonError* e = std::get_if<JsonError>(&parsed)) {
    return tl::unexpected(CallError{"malformed reply: " + e->message});
  }
  return std::get<Json>(std::move(parsed));
}

bool is_client_command(const std::string& command) {
  return command == "submit" || command == "ps" || command == "cancel" || command == "status" || command == "apply" ||
         command == "metrics" || command == "node" || command == "explain";
}

namespace {

constexpr int kExitOk = 0;
constexpr int kExitRefused = 1;
constexpr int kExitUsage = 2;

std::string str(const Json* j) {
  if (!j || j->is_null()) return "-";
  if (const std::string* s = j->as_string()) return *s;
  if (const auto i = j->as_int()) return std::to_string(*i);
  return j->dump();
}

std::string milli(const Json* j) {
  const std::optional<std::int64_t> v = j ? j->as_int() : std::nullopt;
  if (!v) return "-";
  if (*v % 1000 == 0) return std::to_string(*v / 1000);
  return fmt::format("{}.{:03}", *v / 1000, *v % 1000);
}

std::string amount_or_unlimited(const Json* j) {
  if (!j || j->is_null()) return "none";
  return milli(j);
}

// The REASON column of a pending job, squeue style: short, from the
// structured `waiting` the daemon sends.
std::string short_reason(const Json& job) {
  const Json* w = job.find("waiting");
  if (!w || !w->as_object()) return "-";
  const std::string kind = str(w->find("kind"));
  if (kind == "scope_limit") {
    const std::string resource = str(w->find("resource"));
    const std::string over = resource == "memory" ? str(w->find("over")) + "MiB" : milli(w->find("over")) + resource;
    return fmt::format("limit:{}(+{})", str(w->find("scope")), over);
  }
  if (kind == "no_capacity") {
    const std::string resource = str(w->find("resource"));
    if (resource == "cpu") return fmt::format("capacity({}cpu free)", milli(w->find("free")));
    if (resource == "memory") return fmt::format("capacity({}MiB free)", str(w->find("free")));
    return fmt::format("capacity({}gpu free)", milli(w->find("free_gpu_milli")));
  }
  if (kind == "awaiting_victims") {
    std::string ids;
    if (const Json* v = w->find("victims"); v && v->as_array())
      for (const Json& id : *v->as_array()) ids += (ids.empty() ? "" : ",") + str(&id);
    return "grace:victims(" + ids + ")";
  }
  if (kind == "node_cordoned") return "node_cordoned";
  if (kind == "pool_not_running") return "pool_not_running";
  if (kind == "lending_kept") return "lending_kept";
  return "next_pass";
}

void print_jobs(const Json& reply, std::ostream& out) {
  const Json* jobs = reply.find("jobs");
  std::size_t width = 6;
  if (jobs && jobs->as_array())
    for (const Json& j : *jobs->as_array()) width = std::max(width, short_reason(j).size());
  out << fmt::format("{:>6}  {:<10} {:<36} {:<10} {:>5} {:<8} {:>7} {:>5}  {:<{}}  {}\n", "ID", "STATE", "QUEUE",
                     "USER", "GPUS", "DEVICES", "PID", "EXIT", "REASON", width, "COMMAND");
  if (!jobs || !jobs->as_array()) return;
  for (const Json& j : *jobs->as_array()) {
    std::string devices;
    if (const Json* g = j.find("gpus"); g && g->as_array()) {
      for (const Json& s : *g->as_array()) devices += (devices.empty() ? "" : ",") + str(s.find("index"));
    }
    std::string command;
    if (const Json* c = j.find("command"); c && c->as_array()) {
      for (const Json& a : *c->as_array()) command += (command.empty() ? "" : " ") + str(&a);
    }
    std::string exit = str(j.find("exit_code"));
    if (const Json* sig = j.find("signal"); sig && !sig->is_null()) exit = "sig" + str(sig);
    out << fmt::format("{:>6}  {:<10} {:<36} {:<10} {:>5} {:<8} {:>7} {:>5}  {:<{}}  {}\n", str(j.find("id")),
                       str(j.find("state")), str(j.find("queue")), str(j.find("user")), milli(j.find("gpu_milli")),
                       devices.empty() ? "-" : devices, str(j.find("pid")), exit, short_reason(j), width, command);
  }
}

// "cpu 4 of 32 free, memory 1024 of 262144 MiB free"; a resource the core
// does not count (capacity 0) is left out.
void print_node_resources(const Json* r, std::ostream& out) {
  if (!r || !r->as_object()) return;
  auto number = [&](const char* key) {
    const Json* v = r->find(key);
    const std::optional<double> n = v ? v->as_number() : std::nullopt;
    return n ? static_cast<std::int64_t>(*n) : std::int64_t{0};
  };
  std::string text;
  if (number("cpu_milli") > 0)
    text = fmt::format("cpu {} of {} free", milli(r->find("cpu_free_milli")), milli(r->find("cpu_milli")));
  if (number("memory_mib") > 0)
    text += fmt::format("{}memory {} of {} MiB free", text.empty() ? "" : ", ", number("memory_free_mib"),
                        number("memory_mib"));
  out << "node resources: " << (text.empty() ? "cpu and memory not counted" : text) << "\n";
}

// Both definitions of docs/scheduling.md, "Placement".
void print_fragmentation(const Json* f, std::ostream& out) {
  if (!f || !f->as_object()) return;
  const Json* next = f->find("next_request");
  const Json* expected = f->find("expected_workload");
  if (!next || !expected) return;
  const Json* job = next->find("job");
  const std::string for_next = job && !job->is_null() ? fmt::format("{} for the next request (job {}, {} gpu)",
                                                                    milli(next->find("fragmented_gpu_milli")), str(job),
                                                                    milli(next->find("gpu_milli")))
                                                      : std::string("none pending with a gpu");
  const Json* types = expected->find("types");
  const std::size_t type_count = types && types->as_array() ? types->as_array()->size() : 0;
  const Json* source = expected->find("source");
  const bool fallback = source && source->as_string() && *source->as_string() == "default";
  const std::string workload =
      fallback ? std::string("no gpu request yet: one whole gpu")
               : fmt::format("{} type{} from {} recent request{}", type_count, type_count == 1 ? "" : "s",
                             str(expected->find("requests")), str(expected->find("requests")) == "1" ? "" : "s");
  out << fmt::format("gpus: {} of {} idle; fragmented: {}; {} for the expected workload ({})\n",
                     milli(f->find("idle_gpu_milli")), milli(f->find("capacity_gpu_milli")), for_next,
                     milli(expected->find("fragmented_gpu_milli")), workload);
}

void print_status(const Json& reply, std::ostream& out) {
  out << fmt::format("node {} ({} GPUs, {})\n", str(reply.find("node")), str(reply.find("gpu_count")),
                     str(reply.find("gpu_source")));
  if (const Json* node = reply.find("node_state"); node && node->as_object()) {
    const Json* by = node->find("by");
    out << fmt::format("node state: {}{}; pool {} is {}\n", str(node->find("state")),
                       by && !by->is_null() ? " (by " + str(by) + ")" : "", str(reply.find("pool")),
                       str(reply.find("pool_status")));
  }
  if (const Json* plan = reply.find("plan")) {
    out << fmt::format("plan {} (sha256 {})\n", str(plan->find("path")), str(plan->find("source_sha256")));
  }
  if (const Json* journal = reply.find("journal")) {
    const Json* healthy = journal->find("healthy");
    const bool ok = healthy && healthy->as_bool() && *healthy->as_bool();
    out << "journal: " << (ok ? "healthy" : "PROBLEM: " + str(journal->find("problem"))) << "\n";
  }
  out << fmt::format("jobs: {} running, {} pending\n", str(reply.find("running_jobs")),
                     str(reply.find("pending_jobs")));
  print_node_resources(reply.find("node_resources"), out);
  print_fragmentation(reply.find("fragmentation"), out);
  out << fmt::format("{:<40} {:<9} {:>9} {:>7} {:>6} {:>8} {:>7} {:>11}\n", "SCOPE (gpu)", "KIND", "GUARANTEE", "LIMIT",
                     "USED", "BORROWED", "PENDING", "PREEMPTIONS");
  const Json* scopes = reply.find("scopes");
  if (!scopes || !scopes->as_array()) return;
  for (const Json& s : *scopes->as_array()) {
    const Json* gpu = s.find("gpu");
    auto g = [&](const char* key) { return gpu ? gpu->find(key) : nullptr; };
    out << fmt::format("{:<40} {:<9} {:>9} {:>7} {:>6} {:>8} {:>7} {:>11}\n", str(s.find("path")), str(s.find("kind")),
                       milli(g("guarantee")), amount_or_unlimited(g("limit")), milli(g("used")), milli(g("borrowed")),
                       milli(g("pending")), str(s.find("preemptions_total")));
  }
}

}  // namespace

void add_client_commands(CLI::App& app, ClientOptions& o) {
  auto common = [&](CLI::App* sub) {
    sub->add_option("--socket", o.socket,
                    "the daemon's socket (default: $ALLOT_SOCKET, /run/allot/allotd.sock, "
                    "$XDG_RUNTIME_DIR/allotd.sock)")
        ->type_name("PATH");
    sub->add_flag("--json", o.json, "print the daemon's raw reply");
    sub->allow_extras();
    sub->callback([&o, sub] { o.command = sub->get_name(); });
  };
  auto amount = [](std::optional<std::int64_t>& into, std::optional<std::int64_t> (*parse)(std::string_view),
                   std::string message) {
    return [&into, parse, message](const std::string& v) {
      into = parse(v);
      if (!into) throw CLI::ValidationError("", message);
    };
  };
  CLI::App* submit = app.add_subcommand("submit", "submit a job to the local `allotd` (docs/runtime-api.md)");
  submit->add_option("--queue", o.queue, "the queue, as its scope path (required)")->type_name("Q");
  submit
      ->add_option_function<std::string>(
          "--gpus", amount(o.gpu_milli, parse_milli, "`--gpus` needs an amount like 2 or 0.5"), "GPUs to run on")
      ->type_name("N");
  submit
      ->add_option_function<std::string>(
          "--cpu", amount(o.cpu_milli, parse_milli, "`--cpu` needs an amount like 4 or 0.5"), "CPU cores")
      ->type_name("C");
  submit
      ->add_option_function<std::string>(
          "--memory", amount(o.memory_mib, parse_memory_mib, "`--memory` needs an amount like 512 (MiB) or 16GiB"),
          "memory, in MiB or with a unit (16GiB)")
      ->type_name("M");
  submit->add_option("--priority", o.priority, "the priority class (default: the queue's)")->type_name("P");
  submit->add_option("--kind", o.kind, "inference, training or development")->type_name("K");
  submit->prefix_command();
  common(submit);
  CLI::App* ps = app.add_subcommand("ps", "list the jobs of the local `allotd`");
  ps->add_flag("--all", o.all, "include finished jobs");
  common(ps);
  CLI::App* cancel = app.add_subcommand("cancel", "cancel a job");
  cancel->add_option("id", o.arguments, "the job's id")->type_name("ID");
  common(cancel);
  common(app.add_subcommand("status", "per scope: guarantee, limit, used, borrowed, pending"));
  CLI::App* apply = app.add_subcommand("apply", "load a new plan into the running `allotd`");
  apply->add_option("plan", o.arguments, "the compiled plan")->type_name("PLAN");
  common(apply);
  common(app.add_subcommand("metrics", "the daemon's metrics, in Prometheus text format"));
  CLI::App* node = app.add_subcommand("node",
                                      "cordon (admit nothing new), drain (also stop the running jobs, requeued or "
                                      "cancelled per their queue) or uncordon the daemon's node");
  node->add_option("action", o.arguments, "cordon, drain or uncordon, then the node's name")->type_name("ACTION NODE");
  node->add_flag("--no-wait", o.no_wait, "drain: do not wait for the stopped jobs' grace periods");
  common(node);
  CLI::App* explain = app.add_subcommand("explain", "why a job waits (or where it runs), and whom it could preempt");
  explain->add_option("id", o.arguments, "the job's id")->type_name("ID");
  common(explain);
}

std::optional<std::string> check_client_options(const ClientOptions& o) {
  const std::vector<std::string>& a = o.arguments;
  if (o.command == "submit") {
    if (o.queue.empty()) return "`submit` needs `--queue`";
    if (a.empty()) return "`submit` needs a command after `--`";
  } else if (o.command == "node") {
    if (a.size() != 2 || (a[0] != "cordon" && a[0] != "drain" && a[0] != "uncordon"))
      return "`node` needs `cordon`, `drain` or `uncordon` and a node name";
  } else if (o.command == "cancel" || o.command == "explain") {
    std::uint64_t id = 0;
    const std::string text = a.size() == 1 ? a[0] : std::string();
    const auto parsed = std::from_chars(text.data(), text.data() + text.size(), id);
    if (a.size() != 1 || parsed.ec != std::errc() || parsed.ptr != text.data() + text.size() || id == 0) {
      return fmt::format("`{}` needs one job id", o.command);
    }
  } else if (o.command == "apply") {
    if (a.size() != 1) return "`apply` needs one plan file";
  } else if (!a.empty()) {
    return fmt::format("`{}` takes no arguments", o.command);
  }
  return std::nullopt;
}

int run_client(const ClientOptions& o, std::ostream& out, std::ostream& err) {
  const std::string socket_path = o.socket.empty() ? default_socket_path(false) : o.socket;
  Request request;
  if (o.command == "submit") {
    SubmitRequest submit;
    submit.queue = o.queue;
    submit.gpu_milli = o.gpu_milli.value_or(0);
    if (o.cpu_milli) submit.cpu_milli = *o.cpu_milli;
    if (o.memory_mib) submit.memory_mib = *o.memory_mib;
    if (!o.priority.empty()) submit.priority = o.priority;
    if (!o.kind.empty()) submit.kind = o.kind;
    submit.command = o.arguments;
    char cwd[PATH_MAX];
    if (!::getcwd(cwd, sizeof(cwd))) {
      err << "error: cannot read the working directory: " << std::strerror(errno) << "\n";
      return kExitUsage;
    }
    submit.cwd = cwd;
    if (const char* path = std::getenv("PATH")) submit.env.emplace_back("PATH", path);
    request = std::move(submit);
  } else if (o.command == "ps") {
    request = PsRequest{o.all};
  } else if (o.command == "cancel") {
    request = CancelRequest{std::stoull(o.arguments.at(0))};
  } else if (o.command == "explain") {
    request = ExplainRequest{std::stoull(o.arguments.at(0))};
  } else if (o.command == "node") {
    NodeRequest node;
    node.action = o.arguments.at(0) == "cordon" ? NodeAction::cordon
                  : o.arguments[0] == "drain"   ? NodeAction::drain
                                                : NodeAction::uncordon;
    node.node = o.arguments.at(1);
    request = std::move(node);
  } else if (o.command == "status") {
    request = StatusRequest{};
  } else if (o.command == "apply") {
    char resolved[PATH_MAX];
    if (!::realpath(o.arguments.at(0).c_str(), resolved)) {
      err << fmt::format("error: cannot read plan `{}`: {}\n", o.arguments[0], std::strerror(errno));
      return kExitUsage;
    }
    ApplyRequest apply;
    apply.plan_path = resolved;
    request = std::move(apply);
  } else {
    request = MetricsRequest{};
  }

  const tl::expected<Json, CallError> result = call(socket_path, request);
  if (!result) {
    err << "error: " << result.error().message << "\n";
    return kExitUsage;
  }
  const Json& reply = *result;
  const Json* ok = reply.find("ok");
  const bool succeeded = ok && ok->as_bool() && *ok->as_bool();
  if (o.json) {
    out << reply.dump() << "\n";
    return succeeded ? kExitOk : kExitRefused;
  }
  if (!succeeded) {
    const Json* e = reply.find("error");
    err << fmt::format("error[{}]: {}\n", str(e ? e->find("code") : nullptr), str(e ? e->find("message") : nullptr));
    return kExitRefused;
  }
  if (o.command == "submit") {
    const Json* job = reply.find("job");
    const Json* waiting = job ? job->find("waiting") : nullptr;
    std::string state = str(job ? job->find("state") : nullptr);
    if (waiting && waiting->as_object()) state += ": " + str(waiting->find("message"));
    out << fmt::format("submitted job {} to {} ({})\n", str(job ? job->find("id") : nullptr),
                       str(job ? job->find("queue") : nullptr), state);
  } else if (o.command == "explain") {
    out << str(reply.find("text"));
  } else if (o.command == "node") {
    out << str(reply.find("message")) << "\n";
    const bool wait = o.arguments[0] == "drain" && !o.no_wait && str(reply.find("node_state")) == "draining";
    // Drain waits out the stopped jobs' grace periods, as `kubectl drain`
    // does: until the daemon reports the node drained.
    for (bool first = true; wait; first = false) {
      if (!first) ::poll(nullptr, 0, 200);
      const tl::expected<Json, CallError> status = call(socket_path, StatusRequest{});
      if (!status) {
        err << "error: " << status.error().message << "\n";
        return kExitUsage;
      }
      const Json* node = status->find("node_state");
      const std::string state = node ? str(node->find("state")) : "-";
      if (state == "draining") continue;
      if (state != "drained") {
        err << fmt::format("error: node {} is {} now, no longer draining\n", o.arguments[1], state);
        return kExitRefused;
      }
      out << fmt::format("node {} drained\n", o.arguments[1]);
      break;
    }
  } else if (o.command == "ps") {
    print_jobs(reply, out);
  } else if (o.command == "status") {
    print_status(reply, out);
  } else if (o.command == "metrics") {
    out << str(reply.find("text"));
  } else {
    out << str(reply.find("message")) << "\n";
  }
  return kExitOk;
}

int run_client_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  CLI::App app("allotd's client commands", "allotd");
  app.set_help_flag();
  ClientOptions options;
  add_client_commands(app, options);
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; }))
    sub->set_help_flag("-h,--help", "show this help");
  auto usage = [&](const std::string& message, const std::vector<std::string>& help) {
    err << "allotd: " << message << "\n";
    for (const std::string& h : help) err << "help: " << h << "\n";
    err << cli::help_text(app, "allotd");
    return kExitUsage;
  };
  tl::expected<cli::Parsed, cli::UsageError> parsed = cli::parse(app, args);
  if (!parsed) return usage(parsed.error().message, parsed.error().help);
  if (!parsed->command) return usage("a client command is needed", {});
  if (parsed->help) {
    out << cli::help_text(*parsed->command, "allotd");
    return kExitOk;
  }
  options.arguments.insert(options.arguments.end(), parsed->rest.begin(), parsed->rest.end());
  if (const auto problem = check_client_options(options)) return usage(*problem, {});
  return run_client(options, out, err);
}

}  // namespace allot::api
