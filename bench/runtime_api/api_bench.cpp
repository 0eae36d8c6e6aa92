// Submit round-trip latency of allotd's API: starts allotd on the checked-in
// PAI test plan (simulated GPUs, state in a temp dir), then CLIENTS threads
// each keep one connection and submit REQUESTS jobs one after the other.
// Every submit is journaled and fsynced before its reply (group commit).
// Usage: allot_bench_api [CLIENTS=64] [REQUESTS=200] [STATE_DIR_PARENT=/tmp]
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "runtime/api/protocol.h"

namespace {

using Clock = std::chrono::steady_clock;

int connect_to(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// One request, one reply line on a kept connection; false on any error.
bool round_trip(int fd, const std::string& line, std::string& buffer) {
  if (::send(fd, line.data(), line.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(line.size())) return false;
  for (;;) {
    const std::size_t nl = buffer.find('\n');
    if (nl != std::string::npos) {
      const bool ok = buffer.compare(0, 10, "{\"ok\":true") == 0;
      buffer.erase(0, nl + 1);
      return ok;
    }
    char chunk[65536];
    const ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
    if (n <= 0) return false;
    buffer.append(chunk, static_cast<std::size_t>(n));
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int clients = argc > 1 ? std::atoi(argv[1]) : 64;
  const int requests = argc > 2 ? std::atoi(argv[2]) : 200;
  std::string parent = argc > 3 ? argv[3] : "/tmp";
  std::string dir = parent + "/allot-bench-XXXXXX";
  if (!::mkdtemp(dir.data())) return 2;
  const std::string socket_path = dir + "/allotd.sock";
  const std::string plan = std::string(ALLOT_SOURCE_DIR) + "/tests/integration/fixtures/allotd-pai.plan.toml";

  const pid_t daemon = ::fork();
  if (daemon == 0) {
    const std::string log = dir + "/allotd.log";
    std::freopen(log.c_str(), "w", stderr);
    ::execl(ALLOTD_BINARY, "allotd", "--plan", plan.c_str(), "--node", "pai-pool-0001", "--state-dir",
            (dir + "/state").c_str(), "--socket", socket_path.c_str(), "--simulate-gpus", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int probe = -1;
  for (int i = 0; i < 100 && probe < 0; ++i) {
    probe = connect_to(socket_path);
    if (probe < 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (probe < 0) {
    std::fprintf(stderr, "allotd did not come up (see %s/allotd.log)\n", dir.c_str());
    return 2;
  }
  ::close(probe);

  // Whole-GPU training jobs: 4 run (sleeping), the rest wait in the queue, so
  // the figure includes the scheduler pass over a growing pending list.
  allot::api::SubmitRequest submit;
  submit.queue = "workspace-b/dlc/default-queue";
  submit.gpu_milli = 1000;
  submit.command = {"sleep", "600"};
  submit.cwd = "/";
  const std::string line = allot::api::encode_request(submit).dump() + "\n";

  std::vector<std::vector<double>> latencies(static_cast<std::size_t>(clients));
  std::vector<int> failures(static_cast<std::size_t>(clients), 0);
  std::vector<std::thread> threads;
  const auto start = Clock::now();
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      const int fd = connect_to(socket_path);
      std::string buffer;
      for (int i = 0; i < requests; ++i) {
        const auto t0 = Clock::now();
        if (fd < 0 || !round_trip(fd, line, buffer)) {
          ++failures[static_cast<std::size_t>(c)];
          continue;
        }
        latencies[static_cast<std::size_t>(c)].push_back(
            std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
      }
      if (fd >= 0) ::close(fd);
    });
  }
  for (std::thread& t : threads) t.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();

  std::vector<double> all;
  int failed = 0;
  for (int c = 0; c < clients; ++c) {
    all.insert(all.end(), latencies[static_cast<std::size_t>(c)].begin(), latencies[static_cast<std::size_t>(c)].end());
    failed += failures[static_cast<std::size_t>(c)];
  }
  std::sort(all.begin(), all.end());
  auto pct = [&](double p) {
    return all.empty() ? 0.0 : all[std::min(all.size() - 1, static_cast<std::size_t>(p * all.size()))];
  };
  std::printf("allotd submit round trip: %d clients x %d requests, %zu ok, %d failed, %.0f submits/s\n", clients,
              requests, all.size(), failed, static_cast<double>(all.size()) / seconds);
  std::printf("  p50 %.0f us  p90 %.0f us  p99 %.0f us  max %.0f us  (state dir %s)\n", pct(0.50), pct(0.90), pct(0.99),
              all.empty() ? 0.0 : all.back(), dir.c_str());

  // The jobs it started (their own process groups), listed before it stops.
  const int fd = connect_to(socket_path);
  std::string reply;
  const std::string ps = allot::api::encode_request(allot::api::PsRequest{}).dump() + "\n";
  if (fd >= 0 && ::send(fd, ps.data(), ps.size(), MSG_NOSIGNAL) > 0) {
    char chunk[65536];
    for (ssize_t n; reply.find('\n') == std::string::npos && (n = ::recv(fd, chunk, sizeof(chunk), 0)) > 0;)
      reply.append(chunk, static_cast<std::size_t>(n));
  }
  if (fd >= 0) ::close(fd);
  allot::api::JsonParseResult parsed = allot::api::parse_json(reply.substr(0, reply.find('\n')));
  // The daemon goes first: it would start pending jobs as running ones die.
  ::kill(daemon, SIGTERM);
  ::waitpid(daemon, nullptr, 0);
  if (const auto* j = std::get_if<allot::api::Json>(&parsed); j && j->find("jobs") && j->find("jobs")->as_array()) {
    for (const allot::api::Json& job : *j->find("jobs")->as_array()) {
      const allot::api::Json* pid = job.find("pid");
      if (pid && pid->as_int() && *pid->as_int() > 0) ::kill(-static_cast<pid_t>(*pid->as_int()), SIGKILL);
    }
  }
  return failed == 0 ? 0 : 1;
}
