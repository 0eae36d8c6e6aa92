// The daemon's reading of the machine's CPU and memory
// (runtime/daemon/node_resources.h).
#include "runtime/daemon/node_resources.h"

#include <catch2/catch.hpp>

using namespace allot::runtime;
using namespace allot::runtime::daemon;

TEST_CASE("node resources: /proc/meminfo", "[node_resources]") {
  CHECK(parse_meminfo_total_mib("MemTotal:       16318644 kB\nMemFree:         1139320 kB\n") == 15936);
  CHECK(parse_meminfo_total_mib("MemFree: 1 kB\nMemTotal: 2048 kB") == 2);
  CHECK_FALSE(parse_meminfo_total_mib("MemFree: 1 kB\n"));
  CHECK_FALSE(parse_meminfo_total_mib("MemTotal: lots kB\n"));
  CHECK_FALSE(parse_meminfo_total_mib("MemTotal: 2048\n"));
  CHECK_FALSE(parse_meminfo_total_mib(""));
}

TEST_CASE("node resources: cgroup v2 limits", "[node_resources]") {
  CHECK(parse_cgroup_cpu_max("200000 100000\n") == 2000);
  CHECK(parse_cgroup_cpu_max("50000 100000") == 500);
  CHECK_FALSE(parse_cgroup_cpu_max("max 100000\n"));
  CHECK_FALSE(parse_cgroup_cpu_max("100000 0"));
  CHECK_FALSE(parse_cgroup_cpu_max("garbage"));
  CHECK(parse_cgroup_memory_max("8589934592\n") == 8192);
  CHECK_FALSE(parse_cgroup_memory_max("max\n"));
  CHECK_FALSE(parse_cgroup_memory_max("-1"));
}

TEST_CASE("node resources: this machine", "[node_resources]") {
  const NodeResources r = read_node_resources();
  // Any Linux machine running the tests has a CPU and some memory.
  CHECK(r.cpu_milli >= 1000);
  CHECK(r.memory_mib > 0);
}
