// The CPU and memory of the machine allotd runs on, for the core's node
// model (Node::cpu_milli, Node::memory_mib; docs/scheduling.md,
// "Placement"). The parsers take the files' text, so they are tested
// without a machine; read_node_resources() reads the files.
#pragma once

#include <optional>
#include <string_view>

#include "runtime/core/types.h"

namespace allot::runtime::daemon {

struct NodeResources {
  Amount cpu_milli = 0;   // 0: unknown
  Amount memory_mib = 0;  // 0: unknown
};

// `MemTotal:` of /proc/meminfo, in MiB (kB rounded down); nullopt if absent
// or malformed.
std::optional<Amount> parse_meminfo_total_mib(std::string_view meminfo);

// A cgroup v2 `cpu.max` (`QUOTA PERIOD`, or `max PERIOD`): the CPU limit in
// milli-CPU, nullopt when unlimited or malformed.
std::optional<Amount> parse_cgroup_cpu_max(std::string_view cpu_max);

// A cgroup v2 `memory.max` (bytes, or `max`): the limit in MiB, nullopt when
// unlimited or malformed.
std::optional<Amount> parse_cgroup_memory_max(std::string_view memory_max);

// The machine's: online CPUs (sysconf) and MemTotal, each cut to the limit
// of the process's cgroup (/sys/fs/cgroup/cpu.max, memory.max) where one is
// set. Fields are 0 where nothing could be read.
NodeResources read_node_resources();

}  // namespace allot::runtime::daemon
