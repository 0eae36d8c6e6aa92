#include "runtime/daemon/node_resources.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>
#include <string>

namespace allot::runtime::daemon {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

std::optional<Amount> number(std::string_view s) {
  Amount v = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc{} || ptr != s.data() + s.size() || v < 0) return std::nullopt;
  return v;
}

std::optional<std::string> slurp(const char* path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return std::move(text).str();
}

}  // namespace

std::optional<Amount> parse_meminfo_total_mib(std::string_view meminfo) {
  constexpr std::string_view kKey = "MemTotal:";
  std::size_t at = 0;
  while (at < meminfo.size()) {
    const std::size_t end = std::min(meminfo.find('\n', at), meminfo.size());
    std::string_view line = meminfo.substr(at, end - at);
    at = end + 1;
    if (line.substr(0, kKey.size()) != kKey) continue;
    line = trim(line.substr(kKey.size()));
    if (line.size() < 3 || line.substr(line.size() - 2) != "kB") return std::nullopt;
    const std::optional<Amount> kb = number(trim(line.substr(0, line.size() - 2)));
    if (!kb) return std::nullopt;
    return *kb / 1024;
  }
  return std::nullopt;
}

std::optional<Amount> parse_cgroup_cpu_max(std::string_view cpu_max) {
  const std::string_view s = trim(cpu_max);
  const std::size_t space = s.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  const std::string_view quota = s.substr(0, space);
  if (quota == "max") return std::nullopt;
  const std::optional<Amount> q = number(quota), period = number(trim(s.substr(space + 1)));
  if (!q || !period || *period == 0 || *q > kUnlimited / 1000) return std::nullopt;
  return *q * 1000 / *period;
}

std::optional<Amount> parse_cgroup_memory_max(std::string_view memory_max) {
  const std::string_view s = trim(memory_max);
  if (s == "max") return std::nullopt;
  const std::optional<Amount> bytes = number(s);
  if (!bytes) return std::nullopt;
  return *bytes / (1024 * 1024);
}

NodeResources read_node_resources() {
  NodeResources r;
  if (const long cpus = sysconf(_SC_NPROCESSORS_ONLN); cpus > 0) r.cpu_milli = static_cast<Amount>(cpus) * 1000;
  if (const auto text = slurp("/proc/meminfo"))
    if (const auto mib = parse_meminfo_total_mib(*text)) r.memory_mib = *mib;
  if (const auto text = slurp("/sys/fs/cgroup/cpu.max"))
    if (const auto limit = parse_cgroup_cpu_max(*text); limit && (r.cpu_milli == 0 || *limit < r.cpu_milli))
      r.cpu_milli = *limit;
  if (const auto text = slurp("/sys/fs/cgroup/memory.max"))
    if (const auto limit = parse_cgroup_memory_max(*text); limit && (r.memory_mib == 0 || *limit < r.memory_mib))
      r.memory_mib = *limit;
  return r;
}

}  // namespace allot::runtime::daemon
