// Trace readers of `allot simulate`: the Alibaba openb pod list
// (cluster-trace-gpu-v2023), a generic job CSV, and the openb node list. The
// text is passed in; nothing here reads files. Errors name the line and
// column of the offending field instead of throwing.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "runtime/core/cluster.h"
#include "runtime/core/types.h"

namespace allot::runtime::sim {

enum class TraceFormat : std::uint8_t { openb, generic };
const char* to_string(TraceFormat format);

// One job as the trace describes it, before it is resolved against a plan.
// Times are milliseconds from the trace's start.
struct TraceJob {
  std::string name;        // the pod name (openb) or `line N` (generic)
  std::uint32_t line = 0;  // 1-based line of the trace file
  Time submit_ms = 0;
  Time runtime_ms = 0;  // how long it runs once admitted (again in full after a requeue)
  std::string queue;    // generic: the queue as written; openb: empty (assigned later)
  std::string user;     // generic: as written; openb: empty (an authorised user is chosen)
  WorkloadKind kind = WorkloadKind::training;
  std::string priority;  // a priority class name; empty: the queue's default
  Resources request;
  bool preemptible = true;
  std::string qos;       // openb only: LS, Guaranteed, BE or Burstable
  std::string gpu_spec;  // openb only: `|`-separated GPU models it may run on; empty: any
};

// Why a trace line yields no job. Counted, never silently dropped.
enum class SkipReason : std::uint8_t {
  no_gpu_request,        // openb CPU-only pods: nothing to schedule on GPUs
  not_deleted,           // openb: no deletion_time, so no known runtime
  non_positive_runtime,  // the pod never ran: runtime <= 0
};
inline constexpr std::size_t kSkipReasonCount = 3;
const char* to_string(SkipReason reason);

struct Trace {
  TraceFormat format = TraceFormat::openb;
  std::vector<TraceJob> jobs;  // in file order
  // openb: every pod of the file, in file order, those skipped above
  // included (CPU-only, never deleted, ...), with its request and, when
  // timed, its submit time. The placement experiment's arrivals.
  std::vector<TraceJob> pods;
  std::array<std::uint64_t, kSkipReasonCount> skipped{};
  std::uint64_t lines = 0;  // data lines read (header excluded)
  // False for an untimed openb pod list (name,cpu_milli,memory_mib,num_gpu,
  // gpu_milli only): every job has submit_ms 0 and runtime_ms 1, for load mode.
  bool timed = true;
  std::uint64_t skipped_total() const;
};

// Where an input file is wrong: 1-based line and column (0 when unknown).
struct InputError {
  std::string path;
  std::uint32_t line = 0;
  std::uint32_t column = 0;
  std::string message;
  std::string to_string() const;  // `path:line:col: message`
};

using TraceResult = std::variant<Trace, InputError>;

// Detects the format by the header's column names (in any order):
//   openb:   name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,
//            creation_time,deletion_time,scheduled_time
//   untimed openb: name,cpu_milli,memory_mib,num_gpu,gpu_milli (Trace::timed false)
//   generic: submit_time,duration,queue,user,kind,priority,gpus[,cpu,memory]
//            (optional extra columns: name, preemptible)
TraceResult parse_trace(std::string_view text, std::string_view path);

// One row of an openb node list (`sn,cpu_milli,memory_mib,gpu,model`).
struct NodeRow {
  std::string name;
  std::uint32_t gpus = 0;
  std::string model;
  Amount cpu_milli = 0;
  Amount memory_mib = 0;
};

using NodeListResult = std::variant<std::vector<NodeRow>, InputError>;
// Rows with no GPU are skipped (they cannot host GPU work).
NodeListResult parse_node_list(std::string_view text, std::string_view path);

}  // namespace allot::runtime::sim
