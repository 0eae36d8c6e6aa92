#include "runtime/api/client.h"

#include <fmt/format.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>

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

std::variant<Json, CallError> call(const std::string& socket_path, const Request& request, int timeout_ms) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof(addr.sun_path)) return CallError{"socket path too long: " + socket_path};
  std::memcpy(addr.sun_path, socket_path.data(), socket_path.size());
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return CallError{std::string("socket: ") + std::strerror(errno)};
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0)
    return CallError{fmt::format("cannot connect to allotd at {}: {}", socket_path, std::strerror(errno))};
  const std::string line = encode_request(request).dump() + "\n";
  if (line.size() > kMaxRequestLine) return CallError{"request too large"};
  for (std::size_t sent = 0; sent < line.size();) {
    const ssize_t n = ::send(fd.get(), line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return CallError{std::string("send: ") + std::strerror(errno)};
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
    if (left <= 0) return CallError{"timed out waiting for allotd"};
    pollfd p{fd.get(), POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(left));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    const ssize_t n = ::recv(fd.get(), buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return CallError{std::string("recv: ") + std::strerror(errno)};
    if (n == 0) return CallError{"allotd closed the connection without a reply"};
    reply.append(buf, static_cast<std::size_t>(n));
    if (reply.size() > (64u << 20)) return CallError{"reply too large"};
  }
  JsonParseResult parsed = parse_json(reply);
  if (const JsonError* e = std::get_if<JsonError>(&parsed)) return CallError{"malformed reply: " + e->message};
  return std::get<Json>(std::move(parsed));
}

bool is_client_command(const std::string& command) {
  return command == "submit" || command == "ps" || command == "cancel" || command == "status" || command == "apply" ||
         command == "metrics";
}

namespace {

constexpr int kExitOk = 0;
constexpr int kExitRefused = 1;
constexpr int kExitUsage = 2;

constexpr const char* kClientUsage =
    "usage:\n"
    "  submit --queue Q --gpus N [--priority P] [--kind K] [--cpu C] [--memory M] -- CMD...\n"
    "  ps [--all]\n"
    "  cancel ID\n"
    "  status\n"
    "  apply PLAN\n"
    "  metrics\n"
    "options for every command: --socket PATH (default $ALLOT_SOCKET, /run/allot/allotd.sock,\n"
    "  $XDG_RUNTIME_DIR/allotd.sock), --json (print the raw reply)\n";

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

void print_jobs(const Json& reply, std::ostream& out) {
  out << fmt::format("{:>6}  {:<10} {:<36} {:<10} {:>5} {:<8} {:>7} {:>5}  {}\n", "ID", "STATE", "QUEUE", "USER",
                     "GPUS", "DEVICES", "PID", "EXIT", "COMMAND");
  const Json* jobs = reply.find("jobs");
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
    out << fmt::format("{:>6}  {:<10} {:<36} {:<10} {:>5} {:<8} {:>7} {:>5}  {}\n", str(j.find("id")),
                       str(j.find("state")), str(j.find("queue")), str(j.find("user")), milli(j.find("gpu_milli")),
                       devices.empty() ? "-" : devices, str(j.find("pid")), exit, command);
  }
}

void print_status(const Json& reply, std::ostream& out) {
  out << fmt::format("node {} ({} GPUs, {})\n", str(reply.find("node")), str(reply.find("gpu_count")),
                     str(reply.find("gpu_source")));
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

int run_client_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  if (args.empty() || !is_client_command(args[0])) {
    err << kClientUsage;
    return kExitUsage;
  }
  const std::string& command = args[0];
  std::string socket_path;
  bool raw_json = false;
  std::vector<std::string> positional;
  SubmitRequest submit;
  bool all = false;
  auto usage = [&](const std::string& message) {
    err << "error: " << message << "\n" << kClientUsage;
    return kExitUsage;
  };
  for (std::size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](std::string& into) {
      if (i + 1 >= args.size()) return false;
      into = args[++i];
      return true;
    };
    std::string v;
    if (a == "--") {
      positional.insert(positional.end(), args.begin() + static_cast<std::ptrdiff_t>(i) + 1, args.end());
      break;
    } else if (a == "--socket") {
      if (!value(socket_path)) return usage("--socket needs a path");
    } else if (a == "--json") {
      raw_json = true;
    } else if (a == "--all" && command == "ps") {
      all = true;
    } else if (command == "submit" && a == "--queue") {
      if (!value(submit.queue)) return usage("--queue needs a queue path");
    } else if (command == "submit" && a == "--gpus") {
      const std::optional<std::int64_t> m = value(v) ? parse_milli(v) : std::nullopt;
      if (!m) return usage("--gpus needs an amount like 2 or 0.5");
      submit.gpu_milli = *m;
    } else if (command == "submit" && a == "--cpu") {
      const std::optional<std::int64_t> m = value(v) ? parse_milli(v) : std::nullopt;
      if (!m) return usage("--cpu needs an amount like 4 or 0.5");
      submit.cpu_milli = *m;
    } else if (command == "submit" && a == "--memory") {
      const std::optional<std::int64_t> m = value(v) ? parse_memory_mib(v) : std::nullopt;
      if (!m) return usage("--memory needs an amount like 512 (MiB) or 16GiB");
      submit.memory_mib = *m;
    } else if (command == "submit" && a == "--priority") {
      if (!value(v)) return usage("--priority needs a class name");
      submit.priority = v;
    } else if (command == "submit" && a == "--kind") {
      if (!value(v)) return usage("--kind needs inference, training or development");
      submit.kind = v;
    } else if (a.size() > 1 && a[0] == '-' && command != "submit") {
      return usage("unknown option `" + a + "`");
    } else if (a.size() > 1 && a[0] == '-' && positional.empty()) {
      return usage("unknown option `" + a + "`");
    } else {
      positional.push_back(a);
      if (command == "submit") {  // the command starts here; the rest is its own
        positional.insert(positional.end(), args.begin() + static_cast<std::ptrdiff_t>(i) + 1, args.end());
        break;
      }
    }
  }
  if (socket_path.empty()) socket_path = default_socket_path(false);

  Request request;
  if (command == "submit") {
    if (submit.queue.empty()) return usage("submit needs --queue");
    if (positional.empty()) return usage("submit needs a command after `--`");
    submit.command = positional;
    char cwd[PATH_MAX];
    if (!::getcwd(cwd, sizeof(cwd)))
      return usage(std::string("cannot read the working directory: ") + std::strerror(errno));
    submit.cwd = cwd;
    if (const char* path = std::getenv("PATH")) submit.env.emplace_back("PATH", path);
    request = std::move(submit);
  } else if (command == "ps") {
    if (!positional.empty()) return usage("ps takes no arguments");
    request = PsRequest{all};
  } else if (command == "cancel") {
    std::uint64_t id = 0;
    const std::string& text = positional.empty() ? std::string() : positional[0];
    const auto parsed = std::from_chars(text.data(), text.data() + text.size(), id);
    if (positional.size() != 1 || parsed.ec != std::errc() || parsed.ptr != text.data() + text.size() || id == 0)
      return usage("cancel needs one job id");
    request = CancelRequest{static_cast<std::uint64_t>(id)};
  } else if (command == "status") {
    if (!positional.empty()) return usage("status takes no arguments");
    request = StatusRequest{};
  } else if (command == "apply") {
    if (positional.size() != 1) return usage("apply needs one plan file");
    char resolved[PATH_MAX];
    if (!::realpath(positional[0].c_str(), resolved))
      return usage(fmt::format("cannot read plan `{}`: {}", positional[0], std::strerror(errno)));
    request = ApplyRequest{resolved};
  } else {
    if (!positional.empty()) return usage("metrics takes no arguments");
    request = MetricsRequest{};
  }

  std::variant<Json, CallError> result = call(socket_path, request);
  if (const CallError* e = std::get_if<CallError>(&result)) {
    err << "error: " << e->message << "\n";
    return kExitUsage;
  }
  const Json& reply = std::get<Json>(result);
  const Json* ok = reply.find("ok");
  const bool succeeded = ok && ok->as_bool() && *ok->as_bool();
  if (raw_json) {
    out << reply.dump() << "\n";
    return succeeded ? kExitOk : kExitRefused;
  }
  if (!succeeded) {
    const Json* e = reply.find("error");
    err << fmt::format("error[{}]: {}\n", str(e ? e->find("code") : nullptr), str(e ? e->find("message") : nullptr));
    return kExitRefused;
  }
  if (command == "submit") {
    const Json* job = reply.find("job");
    out << fmt::format("submitted job {} to {} ({})\n", str(job ? job->find("id") : nullptr),
                       str(job ? job->find("queue") : nullptr), str(job ? job->find("state") : nullptr));
  } else if (command == "ps") {
    print_jobs(reply, out);
  } else if (command == "cancel") {
    out << str(reply.find("message")) << "\n";
  } else if (command == "status") {
    print_status(reply, out);
  } else if (command == "apply") {
    out << str(reply.find("message")) << "\n";
  } else {
    out << str(reply.find("text"));
  }
  return kExitOk;
}

}  // namespace allot::api
