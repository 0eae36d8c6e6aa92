// Front-end benchmark: times the front end (parse + sema) and the whole
// `allot check` on generated policies of 1k, 10k and 100k quotas and on the
// quick start. Each measurement runs in a forked child so that the peak RSS
// (ru_maxrss) of one size does not pollute the next. Wall times are the
// median of 3 runs.
//
//   cmake --build build --target allot_bench_check && build/bench/allot_bench_check
//       [--check-budget=SECONDS] [QUOTAS...]
#include <fmt/format.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <ostream>
#include <streambuf>
#include <string>
#include <vector>

#include "compiler/base/diagnostic.h"
#include "compiler/base/source.h"
#include "compiler/driver/driver.h"
#include "compiler/sema/analyze.h"
#include "compiler/syntax/parser.h"

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kRuns = 3;

// The shape of a generated policy: a root quota on one pool, groups of about
// 100 child quotas with GPU ranges and CPU, one workspace per group with a
// namespace, a training and a development queue and the implicit
// default-queue.
struct Shape {
  long quotas = 0;  // root + groups + leaves
  long groups = 0;
  long leaves = 0;
};

Shape shape_for(long quotas) {
  Shape s;
  s.quotas = quotas;
  s.groups = std::max(1L, quotas / 100);
  s.leaves = quotas - 1 - s.groups;
  return s;
}

std::string generate(const Shape& s) {
  const long gpus = s.leaves * 1 + s.groups * 8;  // leaf guarantees + group headroom
  const long nodes = (gpus + 15) / 16;
  std::string out;
  out.reserve(static_cast<std::size_t>(s.leaves) * 64 + static_cast<std::size_t>(s.groups) * 400 + 1024);
  out += fmt::format(
      "// generated: {} quotas in {} groups\n"
      "flavor hgx-16 {{ gpu_model = \"V100-32G\", gpus = 16, gpu_memory = 32GiB, cpu = 96, memory = 1536GiB }}\n\n"
      "pool fleet {{\n  type = dedicated\n  purpose = training\n"
      "  billing = subscription {{ term = 12mo, auto_renew = true }}\n  nodes = {} x hgx-16\n}}\n\n"
      "priority training {{ value = 500, preempts = [development] }}\n"
      "priority development = 100\n"
      "role tenants {{ groups = [ml], permissions = [submit, list, cancel] }}\n\n",
      s.quotas, s.groups, nodes);
  out +=
      fmt::format("quota root on fleet {{\n  gpu = {}\n  cpu = {}\n  child_preemption = true\n\n", gpus, s.leaves * 4);
  long leaf = 0;
  for (long g = 0; g < s.groups; ++g) {
    const long members = s.leaves / s.groups + (g < s.leaves % s.groups ? 1 : 0);
    out += fmt::format("  quota g{:05} {{\n    gpu = {}..{}\n    cpu = {}\n    roles = [tenants]\n", g, members,
                       members + 8, members * 4);
    for (long i = 0; i < members; ++i, ++leaf) {
      out += fmt::format("    quota t{:06} {{ gpu = 1..8, cpu = 4 }}\n", leaf);
    }
    out += "  }\n";
  }
  out += "}\n\n";
  for (long g = 0; g < s.groups; ++g) {
    out += fmt::format(
        "workspace w{0:05} on g{0:05} {{\n  namespace main {{\n"
        "    queue batch {{ priority = training, accepts = [training], roles = [tenants] }}\n"
        "    queue dev {{ priority = development, accepts = [development], gpu_sharing = true }}\n  }}\n}}\n",
        g);
  }
  out += "\nassert sum(children(root).gpu) <= root.gpu\n";
  return out;
}

class NullBuffer : public std::streambuf {
 protected:
  int overflow(int c) override { return c; }
  std::streamsize xsputn(const char*, std::streamsize n) override { return n; }
};

// Runs `allot check PATH` in-process; returns seconds, or -1 if not clean.
double time_check(const std::string& path) {
  NullBuffer null;
  std::ostream out(&null), err(&null);
  const auto start = Clock::now();
  const int rc = allot::driver::run({"check", "--quiet", path}, allot::driver::Streams{out, err});
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return rc == allot::driver::kExitOk ? seconds : -1;
}

// The front end alone: reading and parsing (syntax::load), then semantic
// analysis (sema::analyze). Seconds of each, or -1 on any diagnostic.
std::pair<double, double> time_front_end(const std::string& path) {
  allot::SourceManager sources;
  allot::DiagnosticSink sink;
  const auto start = Clock::now();
  allot::syntax::LoadResult loaded = allot::syntax::load(sources, {path}, sink);
  const auto parsed = Clock::now();
  const auto policy = allot::sema::analyze(sources, loaded.files, sink);
  const auto done = Clock::now();
  const bool clean = policy && sink.diagnostics().empty();
  return {clean ? std::chrono::duration<double>(parsed - start).count() : -1,
          clean ? std::chrono::duration<double>(done - parsed).count() : -1};
}

// Runs the `allot` binary as a user does; returns seconds, or -1.
double time_process(const std::string& path) {
  std::string binary = ALLOT_BINARY, check = "check", quiet = "--quiet", file = path;
  char* argv[] = {binary.data(), check.data(), quiet.data(), file.data(), nullptr};
  const auto start = Clock::now();
  pid_t pid = 0;
  if (posix_spawn(&pid, binary.c_str(), nullptr, nullptr, argv, environ) != 0) return -1;
  int status = 0;
  waitpid(pid, &status, 0);
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? seconds : -1;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  if (v.front() < 0) return -1;
  return v[v.size() / 2];
}

constexpr double kTimedOut = -2;
constexpr double kNotRun = -3;

struct Result {
  double parse_s = -1;    // syntax::load, median
  double sema_s = -1;     // sema::analyze, median
  double check_s = -1;    // whole `allot check` in-process, median (kTimedOut: over budget)
  double process_s = -1;  // `allot check` as a process, median (quick start only)
  long bytes = 0;
  long base_rss_kib = 0;  // before checking
  long peak_rss_kib = 0;
};

long max_rss_kib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;  // KiB on Linux
}

// Runs `body` in a forked child and returns what it wrote to the pipe; a
// child still running after `budget_s` seconds is killed (check_s = kTimedOut).
Result in_child(const std::function<Result()>& body, unsigned budget_s = 0) {
  int fds[2];
  if (pipe(fds) != 0) return {};
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    if (budget_s > 0) alarm(budget_s);
    Result r = body();
    r.peak_rss_kib = max_rss_kib();
    [[maybe_unused]] auto n = write(fds[1], &r, sizeof r);
    _exit(0);
  }
  close(fds[1]);
  Result r;
  if (read(fds[0], &r, sizeof r) != static_cast<ssize_t>(sizeof r)) {
    r = Result{};
    r.check_s = kTimedOut;
  }
  close(fds[0]);
  waitpid(pid, nullptr, 0);
  return r;
}

std::string ms(double s) {
  if (s == kTimedOut) return "timed out";
  if (s == kNotRun) return "not run";
  if (s < 0) return "FAILED";
  return s >= 10 ? fmt::format("{:.1f} s", s) : fmt::format("{:.1f} ms", s * 1000);
}
std::string mib(long kib) { return kib <= 0 ? "-" : fmt::format("{:.0f} MiB", static_cast<double>(kib) / 1024); }

void row(const std::string& name, const std::string& quotas, const std::string& bytes, const Result& front,
         const Result& full) {
  fmt::print("{:<10} {:>7} {:>9} | {:>10} {:>10} {:>10} {:>9} | {:>12} {:>9}\n", name, quotas, bytes, ms(front.parse_s),
             ms(front.sema_s), front.parse_s < 0 || front.sema_s < 0 ? "FAILED" : ms(front.parse_s + front.sema_s),
             mib(front.peak_rss_kib), ms(full.check_s), mib(full.peak_rss_kib));
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<long> sizes{1000, 10000, 100000};
  unsigned budget_s = 120;  // per size, for the whole `allot check` (3 runs)
  std::vector<long> given;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--check-budget=", 0) == 0) {
      budget_s = static_cast<unsigned>(std::atol(a.c_str() + 15));
    } else {
      given.push_back(std::atol(a.c_str()));
    }
  }
  if (!given.empty()) sizes = given;
  fmt::print("allot check benchmark: median of {} runs, wall time; {} online cores\n", kRuns,
             sysconf(_SC_NPROCESSORS_ONLN));
  fmt::print(
      "front end = syntax::load + sema::analyze; check = allot::driver::run (front end, verify, render),\n"
      "given {} s per size; peak RSS measured in a fresh child per row\n\n",
      budget_s);
  fmt::print("{:<10} {:>7} {:>9} | {:>10} {:>10} {:>10} {:>9} | {:>12} {:>9}\n", "policy", "quotas", "bytes", "parse",
             "sema", "front end", "peak RSS", "allot check", "peak RSS");

  const std::string quickstart = std::string(ALLOT_SOURCE_DIR) + "/examples/quickstart/cluster.allot";
  auto front_end = [&](const std::string& path) {
    return in_child([&] {
      Result r;
      r.base_rss_kib = max_rss_kib();
      std::vector<double> parse, sema;
      for (int i = 0; i < kRuns; ++i) {
        auto [p, s] = time_front_end(path);
        parse.push_back(p);
        sema.push_back(s);
      }
      r.parse_s = median(parse);
      r.sema_s = median(sema);
      return r;
    });
  };
  auto full_check = [&](const std::string& path, unsigned budget) {
    return in_child(
        [&] {
          Result r;
          std::vector<double> times;
          for (int i = 0; i < kRuns; ++i) times.push_back(time_check(path));
          r.check_s = median(times);
          return r;
        },
        budget);
  };

  bool ok = true;
  {
    Result front = front_end(quickstart);
    Result full = full_check(quickstart, budget_s);
    Result proc = in_child([&] {
      Result r;
      std::vector<double> times;
      for (int i = 0; i < kRuns; ++i) times.push_back(time_process(quickstart));
      r.process_s = median(times);
      return r;
    });
    std::ifstream in(quickstart, std::ios::binary | std::ios::ate);
    row("quickstart", "3", std::to_string(static_cast<long>(in.tellg())), front, full);
    fmt::print("{:<10} {:>7} {:>9} | {:>43} | {:>12}\n", "  process", "", "",
               "`allot check --quiet` run as a process:", ms(proc.process_s));
    ok = front.parse_s >= 0 && full.check_s >= 0 && proc.process_s >= 0;
  }

  bool check_gave_up = false;
  for (long n : sizes) {
    const Shape s = shape_for(n);
    char path[] = "/tmp/allot-bench-XXXXXX.allot";
    const int fd = mkstemps(path, 6);
    if (fd < 0) return 2;
    close(fd);
    // Generated in a child too, so the parent stays small for the next fork.
    Result gen = in_child([&] {
      Result r;
      const std::string text = generate(s);
      std::ofstream(path, std::ios::binary) << text;
      r.bytes = static_cast<long>(text.size());
      return r;
    });
    Result front = front_end(path);
    Result full;
    full.check_s = kNotRun;
    if (!check_gave_up) full = full_check(path, budget_s);
    if (full.check_s == kTimedOut) check_gave_up = true;  // larger sizes would only take longer
    unlink(path);
    row("generated", std::to_string(s.quotas), std::to_string(gen.bytes), front, full);
    ok = ok && front.parse_s >= 0 && front.sema_s >= 0 && full.check_s != -1;
  }
  fmt::print(
      "\n`timed out`: the {} runs of `allot check` did not finish within {} s; larger sizes are then\n"
      "`not run`\n",
      kRuns, budget_s);
  fmt::print("targets: quick start < 100 ms wall; 100k quotas < 1 s wall and < 1 GiB peak RSS\n");
  if (!ok) fmt::print("a check FAILED: a generated policy or the quick start is not clean\n");
  return ok ? 0 : 1;
}
