#include "compiler/backend/slurm_cli.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "compiler/emit/plan_toml.h"

namespace allot::backend {

namespace {

constexpr int kOk = 0;
constexpr int kRefused = 1;
constexpr int kUsage = 2;
constexpr int kFailed = 2;  // a Slurm command failed midway: I/O, not a policy error

struct Result {
  int status = -1;  // exit status, -1 when it could not run
  std::string out;
  std::string err;
};

// Runs `argv` (found on PATH) with no shell, collecting both outputs.
Result run(const std::vector<std::string>& argv) {
  Result r;
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return r;
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    return r;
  }
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    const int null = ::open("/dev/null", O_RDONLY);
    if (null >= 0) ::dup2(null, 0);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (pid < 0) {
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    return r;
  }
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&r.out, &r.err};
  int open_fds = 2;
  char buf[8192];
  while (open_fds > 0) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const ssize_t n = ::read(fds[i].fd, buf, sizeof(buf));
      if (n > 0) {
        sinks[i]->append(buf, static_cast<std::size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  return r;
}

std::string command_line(const std::vector<std::string>& argv) {
  std::string out;
  for (const std::string& a : argv) {
    const bool plain = !a.empty() && a.find_first_not_of(
                                         "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                                         "-_./=:,@+%") == std::string::npos;
    std::string quoted = "'";
    for (char c : a) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    out += (out.empty() ? "" : " ") + (plain ? a : quoted + "'");
  }
  return out;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t at = s.find(sep, start);
    out.push_back(s.substr(start, at == std::string::npos ? std::string::npos : at - start));
    if (at == std::string::npos) return out;
    start = at + 1;
  }
}

// GPUs of a job from squeue's tres-per-node (`gres:gpu:2`, `gres/gpu:2`,
// `gres:gpu:a100:2`); 0 without GPUs.
std::int64_t gpus_of(const std::string& tres) {
  const std::size_t at = tres.find("gpu");
  if (at == std::string::npos) return 0;
  const std::size_t colon = tres.rfind(':');
  if (colon == std::string::npos || colon < at) return 1;
  std::int64_t n = 0;
  for (std::size_t i = colon + 1; i < tres.size() && std::isdigit(static_cast<unsigned char>(tres[i])); ++i) {
    n = n * 10 + (tres[i] - '0');
  }
  return n;
}

struct MapPartition {
  std::string name, pool, kind;
};
struct QueueMap {
  std::string source_sha256;
  std::vector<SlurmQueue> queues;
  std::vector<MapPartition> partitions;
};

std::optional<QueueMap> load_map(const std::string& path, std::ostream& err) {
  toml::table t;
  try {
    t = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    err << fmt::format("allot: cannot read queue map `{}`: {}\n", path, e.description());
    return std::nullopt;
  }
  QueueMap m;
  m.source_sha256 = t["source_sha256"].value_or(std::string());
  if (const toml::array* qs = t["queues"].as_array()) {
    for (const toml::node& n : *qs) {
      const toml::table* q = n.as_table();
      if (!q) continue;
      SlurmQueue s;
      s.path = (*q)["path"].value_or(std::string());
      s.account = (*q)["account"].value_or(std::string());
      if (const toml::table* parts = (*q)["partitions"].as_table()) {
        for (const auto& [kind, part] : *parts) {
          s.partitions.emplace_back(std::string(kind.str()), part.value_or(std::string()));
        }
      }
      s.guaranteed_qos = (*q)["guaranteed_qos"].value_or(std::string());
      s.guarantee_gpus = (*q)["guarantee_gpus"].value_or(std::int64_t{0});
      s.borrowed_qos = (*q)["borrowed_qos"].value_or(std::string());
      s.grace_seconds = (*q)["grace_seconds"].value_or(std::int64_t{0});
      s.requeue = (*q)["requeue"].value_or(true);
      s.preemptible = (*q)["preemptible"].value_or(true);
      s.priority = (*q)["priority"].value_or(std::string());
      m.queues.push_back(std::move(s));
    }
  }
  if (const toml::array* ps = t["partitions"].as_array()) {
    for (const toml::node& n : *ps) {
      const toml::table* p = n.as_table();
      if (!p) continue;
      m.partitions.push_back({(*p)["name"].value_or(std::string()), (*p)["pool"].value_or(std::string()),
                              (*p)["kind"].value_or(std::string())});
    }
  }
  if (m.queues.empty()) {
    err << fmt::format("allot: queue map `{}` lists no queues\n", path);
    return std::nullopt;
  }
  return m;
}

bool fail_to_run(const Result& r, const std::vector<std::string>& argv, std::ostream& err) {
  if (r.status == 0) return false;
  err << fmt::format("allot: `{}` failed{}\n", command_line(argv),
                     r.status < 0 ? "" : fmt::format(" (exit status {})", r.status));
  if (!r.err.empty()) err << r.err << (r.err.back() == '\n' ? "" : "\n");
  return true;
}

}  // namespace

std::string default_slurm_map() {
  if (const char* env = std::getenv("ALLOT_SLURM_MAP"); env && *env) return env;
  return "/etc/allot/slurm/queues.toml";
}

int run_slurm_submit(const SlurmSubmitOptions& options, std::ostream& out, std::ostream& err) {
  const std::string& queue = options.queue;
  const std::string& kind = options.kind;
  const std::string& name = options.name;
  const std::string& output = options.output;
  const std::string& map_path = options.map;
  const std::string& priority = options.priority;
  const std::int64_t gpus = options.gpus;
  const bool dry_run = options.dry_run;
  const std::vector<std::string>& command = options.command;
  const std::optional<QueueMap> map = load_map(map_path, err);
  if (!map) return kUsage;
  const auto q = std::find_if(map->queues.begin(), map->queues.end(), [&](const SlurmQueue& x) {
    return x.path == queue || x.path == queue + "/default-queue";
  });
  if (q == map->queues.end()) {
    err << fmt::format("allot: unknown queue `{}` in `{}`\n", queue, map_path);
    return kUsage;
  }
  if (!priority.empty() && priority != q->priority) {
    err << fmt::format("allot: the jobs of `{}` run at its class `{}` on Slurm, not `{}`\n", q->path, q->priority,
                       priority)
        << "help: submit to a queue whose default class is `" << priority << "`\n";
    return kUsage;
  }
  if (q->partitions.empty()) {
    err << fmt::format("allot: `{}` has no Slurm partition (its pool has no nodes)\n", q->path);
    return kUsage;
  }
  std::string partition = q->partitions.front().second;
  if (!kind.empty()) {
    const auto p =
        std::find_if(q->partitions.begin(), q->partitions.end(), [&](const auto& kp) { return kp.first == kind; });
    if (p == q->partitions.end()) {
      err << fmt::format("allot: `{}` does not accept `{}` work\n", q->path, kind);
      return kUsage;
    }
    partition = p->second;
  }
  // The tier: guaranteed while the guaranteed tier's running *and pending*
  // work leaves room for this request (GrpTRES counts running jobs only, so
  // back-to-back submissions would all pick it and wait beside idle GPUs).
  std::string qos = q->borrowed_qos;
  if (!q->guaranteed_qos.empty()) {
    const std::vector<std::string> argv{"squeue", "-h", "-q", q->guaranteed_qos, "-t", "PD,R,CG,S", "-o", "%b"};
    const Result r = run(argv);
    if (fail_to_run(r, argv, err)) return kUsage;
    std::int64_t held = 0;
    for (const std::string& line : lines(r.out)) held += gpus_of(line);
    if (held + gpus <= q->guarantee_gpus) qos = q->guaranteed_qos;
  }
  std::vector<std::string> argv{"sbatch",       "--parsable", "--account=" + q->account, "--partition=" + partition,
                                "--qos=" + qos, "--nodes=1"};
  if (gpus > 0) argv.push_back(fmt::format("--gres=gpu:{}", gpus));
  // The batch script gets SIGTERM when a grace period starts (with
  // preempt_send_user_signal in allot.conf).
  argv.push_back("--signal=B:TERM");
  argv.push_back(q->requeue ? "--requeue" : "--no-requeue");
  if (!name.empty()) argv.push_back("--job-name=" + name);
  if (!output.empty()) argv.push_back("--output=" + output);
  struct stat st {};
  if (::stat(command[0].c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
    argv.insert(argv.end(), command.begin(), command.end());
  } else {
    argv.push_back("--wrap=" + command_line(command));
  }
  if (dry_run) {
    out << command_line(argv) << "\n";
    return kOk;
  }
  const Result r = run(argv);
  if (r.status != 0) {
    err << fmt::format("allot: sbatch refused the job{}\n", r.status < 0 ? " (sbatch not found)" : "");
    if (!r.err.empty()) err << r.err << (r.err.back() == '\n' ? "" : "\n");
    return kRefused;
  }
  std::string id = r.out.substr(0, r.out.find_first_of(";\n"));
  out << fmt::format("submitted job {} to `{}` (qos {}, partition {})\n", id, q->path, qos, partition);
  return kOk;
}

bool write_slurm_state(const std::string& map_path, const std::vector<std::string>& policy_files,
                       const std::string& state_path, std::ostream& out, std::ostream& err) {
  const std::optional<QueueMap> map = load_map(map_path, err);
  if (!map) return false;
  std::map<std::string, const SlurmQueue*> by_account;
  for (const SlurmQueue& q : map->queues) by_account[q.account] = &q;
  // Active jobs: pending ones count as work that makes a queue busy; GPUs
  // in use are those of running (and suspended, completing) jobs.
  const std::vector<std::string> squeue{"squeue", "-h", "-t", "PD,R,CG,S,CF", "-o", "%a|%T|%b"};
  const Result jobs = run(squeue);
  if (fail_to_run(jobs, squeue, err)) return false;
  std::map<std::string, std::int64_t> used, active;
  std::vector<std::string> foreign;
  for (const std::string& line : lines(jobs.out)) {
    const std::vector<std::string> f = split(line, '|');
    if (f.size() < 3) continue;
    const auto q = by_account.find(f[0]);
    if (q == by_account.end()) {
      foreign.push_back(f[0]);
      continue;
    }
    ++active[q->second->path];
    if (f[1] != "PENDING" && f[1] != "CONFIGURING") used[q->second->path] += gpus_of(f[2]);
  }
  const std::vector<std::string> sinfo{"sinfo", "-h", "-N", "-o", "%R|%N|%t"};
  const Result nodes = run(sinfo);
  if (fail_to_run(nodes, sinfo, err)) return false;
  std::map<std::string, std::string> pool_of_partition;
  for (const MapPartition& p : map->partitions) pool_of_partition[p.name] = p.pool;
  std::map<std::string, bool> pool_ok;
  for (const std::string& line : lines(nodes.out)) {
    const std::vector<std::string> f = split(line, '|');
    if (f.size() < 3) continue;
    const auto p = pool_of_partition.find(f[0]);
    if (p == pool_of_partition.end()) continue;
    std::string st = f[2];
    while (!st.empty() && (st.back() == '*' || st.back() == '~' || st.back() == '#' || st.back() == '$')) st.pop_back();
    const bool up = st == "idle" || st == "mix" || st == "alloc" || st == "comp" || st == "resv";
    auto [it, inserted] = pool_ok.emplace(p->second, up);
    if (!inserted) it->second = it->second && up;
  }

  const std::filesystem::path state = std::filesystem::absolute(state_path);
  std::string text = "# live state read from Slurm by `allot state --from slurm` (docs/state.md)\n";
  text += fmt::format("# queue map: {} (source_sha256 {})\npolicy = [", map_path, map->source_sha256);
  for (std::size_t i = 0; i < policy_files.size(); ++i) {
    std::error_code ec;
    const std::filesystem::path abs = std::filesystem::absolute(policy_files[i]);
    std::filesystem::path rel = std::filesystem::relative(abs, state.parent_path(), ec);
    if (ec || rel.empty()) rel = abs;
    text += (i ? ", " : "") + emit::toml_string(rel.string());
  }
  text += "]\n";
  for (const auto& [pool, ok] : pool_ok) {
    text += fmt::format("\n[pools.{}]\nstatus = {}\n", emit::toml_string(pool), ok ? "\"running\"" : "\"abnormal\"");
  }
  for (const SlurmQueue& q : map->queues) {
    if (!active.count(q.path)) continue;
    text += fmt::format("\n[scopes.{}]\nused = {{ gpu = {} }}\njobs = {}\n", emit::toml_string(q.path), used[q.path],
                        active[q.path]);
  }
  if (!foreign.empty()) {
    std::sort(foreign.begin(), foreign.end());
    foreign.erase(std::unique(foreign.begin(), foreign.end()), foreign.end());
    std::string names;
    for (const std::string& a : foreign) names += " " + a;
    text += "\n# jobs of accounts outside the queue map:" + names + "\n";
  }
  if (state_path == "-") {
    out << text;
    return true;
  }
  std::ofstream file(state_path, std::ios::binary | std::ios::trunc);
  file << text;
  if (!file.flush()) {
    err << fmt::format("allot: cannot write `{}`\n", state_path);
    return false;
  }
  return true;
}

int run_slurm_state(const SlurmStateOptions& options, std::ostream& out, std::ostream& err) {
  const std::string& output = options.output;
  if (!write_slurm_state(options.map, options.policies, output, out, err)) return kUsage;
  if (output != "-") out << fmt::format("ok: wrote state `{}`\n", output);
  return kOk;
}

int apply_slurm(const SlurmConfig& next, const SlurmConfig& deployed, const std::string& allot_conf,
                const std::string& conf_path, std::ostream& out, std::ostream& err) {
  auto query = [&](std::vector<std::string> argv, std::vector<std::string>& rows) {
    const Result r = run(argv);
    if (fail_to_run(r, argv, err)) return false;
    rows = lines(r.out);
    return true;
  };
  std::vector<std::string> qos_rows, account_rows, user_rows;
  if (!query({"sacctmgr", "-n", "-P", "show", "qos", "format=name,preempt"}, qos_rows) ||
      !query({"sacctmgr", "-n", "-P", "show", "account", "format=account"}, account_rows) ||
      !query({"sacctmgr", "-n", "-P", "show", "assoc", "format=account,user"}, user_rows)) {
    return kUsage;
  }
  std::set<std::string> live_qos;
  std::map<std::string, std::set<std::string>> live_preempt;
  for (const std::string& row : qos_rows) {
    const std::vector<std::string> f = split(row, '|');
    live_qos.insert(f[0]);
    if (f.size() >= 2 && !f[1].empty()) {
      for (const std::string& v : split(f[1], ',')) live_preempt[f[0]].insert(v);
    }
  }
  const std::set<std::string> live_accounts(account_rows.begin(), account_rows.end());
  std::set<std::pair<std::string, std::string>> live_users;
  for (const std::string& row : user_rows) {
    const std::vector<std::string> f = split(row, '|');
    if (f.size() >= 2 && !f[1].empty()) live_users.emplace(f[0], f[1]);
  }
  int steps = 0;
  auto sacctmgr = [&](std::vector<std::string> words) {
    std::vector<std::string> argv{"sacctmgr", "-i"};
    argv.insert(argv.end(), words.begin(), words.end());
    out << "+ " << command_line(argv) << "\n";
    ++steps;
    const Result r = run(argv);
    if (!fail_to_run(r, argv, err)) return true;
    err << fmt::format("allot: apply stopped at command {}: the cluster has the changes before it\n", steps);
    return false;
  };
  auto join = [](const std::vector<std::string>& v) {
    std::string s;
    for (const std::string& x : v) s += (s.empty() ? "" : ",") + x;
    return s;
  };
  auto grp = [](const std::optional<std::int64_t>& g) {
    return "GrpTRES=gres/gpu=" + (g ? std::to_string(*g) : std::string("-1"));
  };

  // 1. Preemption edges the new policy drops go first: sacctmgr refuses a
  //    list that would close a cycle with the edges still in place.
  std::map<std::string, std::set<std::string>> wanted;
  for (const SlurmQos& q : next.qos) wanted[q.name] = {q.preempt.begin(), q.preempt.end()};
  for (const auto& [name, victims] : live_preempt) {
    if (!live_qos.count(name)) continue;
    std::vector<std::string> drop;
    for (const std::string& v : victims) {
      if (!wanted[name].count(v)) drop.push_back(v);
    }
    if (!drop.empty() && !sacctmgr({"modify", "qos", "where", "name=" + name, "set", "Preempt-=" + join(drop)})) {
      return kFailed;
    }
  }
  // 2. QOS: the new ones added, every one's attributes set.
  for (const SlurmQos& q : next.qos) {
    if (!live_qos.count(q.name) && !sacctmgr({"add", "qos", q.name})) return kFailed;
  }
  for (const SlurmQos& q : next.qos) {
    if (!sacctmgr({"modify", "qos", "where", "name=" + q.name, "set", fmt::format("Priority={}", q.priority),
                   fmt::format("GraceTime={}", q.grace_seconds),
                   q.cancel ? "PreemptMode=cancel" : "PreemptMode=requeue", grp(q.grp_gpus),
                   "Description=" + q.description})) {
      return kFailed;
    }
  }
  // 3. Accounts, parents first; limits set on every account (a limit change
  //    never stops a running job in Slurm; the change was proved allowed).
  for (const SlurmAccount& a : next.accounts) {
    if (!live_accounts.count(a.name) &&
        !sacctmgr({"add", "account", a.name, "Parent=" + a.parent, "Description=" + a.description})) {
      return kFailed;
    }
  }
  for (const SlurmAccount& a : next.accounts) {
    if (!sacctmgr({"modify", "account", "where", "name=" + a.name, "set", grp(a.grp_gpus)})) return kFailed;
  }
  // 4. Users: associations added, QOS lists set.
  for (const SlurmUser& u : next.users) {
    if (!live_users.count({u.account, u.user})) {
      std::vector<std::string> words{"add", "user", u.user, "Account=" + u.account};
      if (u.default_account) words.push_back("DefaultAccount=" + u.account);
      if (!sacctmgr(words)) return kFailed;
    }
    if (!sacctmgr({"modify", "user", "where", "name=" + u.user, "account=" + u.account, "set", "QOS=" + join(u.qos),
                   "DefaultQOS=" + u.default_qos})) {
      return kFailed;
    }
  }
  // 5. Coordinators (adding one again changes nothing).
  for (const SlurmCoordinator& c : next.coordinators) {
    std::vector<std::string> argv{
        "sacctmgr", "-i", "add", "coordinator", "Account=" + c.account, "Names=" + join(c.users)};
    out << "+ " << command_line(argv) << "\n";
    ++steps;
    run(argv);
  }
  // 6. The new preemption edges, now that every QOS exists.
  for (const SlurmQos& q : next.qos) {
    std::vector<std::string> add;
    for (const std::string& v : q.preempt) {
      if (!live_preempt[q.name].count(v)) add.push_back(v);
    }
    if (!add.empty() && !sacctmgr({"modify", "qos", "where", "name=" + q.name, "set", "Preempt+=" + join(add)})) {
      return kFailed;
    }
  }
  // 7. What the deployed policy had and this one lacks: user associations,
  //    then accounts children first, then QOS.
  std::set<std::pair<std::string, std::string>> keep_users;
  for (const SlurmUser& u : next.users) keep_users.emplace(u.account, u.user);
  for (const SlurmUser& u : deployed.users) {
    if (keep_users.count({u.account, u.user}) || !live_users.count({u.account, u.user})) continue;
    if (!sacctmgr({"delete", "user", "where", "name=" + u.user, "account=" + u.account})) return kFailed;
  }
  std::set<std::string> keep_accounts;
  for (const SlurmAccount& a : next.accounts) keep_accounts.insert(a.name);
  for (auto it = deployed.accounts.rbegin(); it != deployed.accounts.rend(); ++it) {
    if (keep_accounts.count(it->name) || !live_accounts.count(it->name)) continue;
    if (!sacctmgr({"delete", "account", "where", "name=" + it->name})) return kFailed;
  }
  std::set<std::string> keep_qos;
  for (const SlurmQos& q : next.qos) keep_qos.insert(q.name);
  for (const SlurmQos& q : deployed.qos) {
    if (keep_qos.count(q.name) || !live_qos.count(q.name)) continue;
    if (!sacctmgr({"delete", "qos", "where", "name=" + q.name})) return kFailed;
  }
  // 8. The slurm.conf include, when it changed.
  if (!conf_path.empty()) {
    std::string current;
    {
      std::ifstream in(conf_path, std::ios::binary);
      std::ostringstream s;
      s << in.rdbuf();
      current = s.str();
    }
    if (current != allot_conf) {
      std::ofstream file(conf_path, std::ios::binary | std::ios::trunc);
      file << allot_conf;
      if (!file.flush()) {
        err << fmt::format("allot: cannot write `{}`\n", conf_path);
        return kUsage;
      }
      const std::vector<std::string> argv{"scontrol", "reconfigure"};
      out << "+ " << command_line(argv) << "\n";
      ++steps;
      if (fail_to_run(run(argv), argv, err)) return kFailed;
    }
  }
  out << fmt::format("ok: applied to Slurm in {} commands\n", steps);
  return kOk;
}

}  // namespace allot::backend
