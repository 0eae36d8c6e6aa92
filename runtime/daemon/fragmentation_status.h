// What `allot status` and the metrics say about fragmentation on the node
// (docs/runtime-api.md, "Fragmentation"): the expected workload allotd
// measures it against, learnt from its live history, and the figures.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "runtime/api/json.h"
#include "runtime/core/fragmentation.h"
#include "runtime/core/scheduler.h"
#include "runtime/daemon/job_record.h"

namespace allot::daemon {

// How many of the latest jobs the live workload is drawn from.
inline constexpr std::size_t kWorkloadWindow = 1000;

struct LiveWorkload {
  std::vector<runtime::TaskType> types;  // popularities sum to 1
  std::size_t requests = 0;              // jobs with a GPU request in the window
  bool fallback = false;                 // none: one whole GPU stands for the workload
};

// The requests of the `window` highest-numbered (latest) jobs allotd knows,
// finished ones included, grouped as runtime::typical_workload groups them.
// The records are journaled, so a restart rebuilds the same window (as far
// as `keep_finished_jobs` keeps finished ones). Without a GPU request among
// them: a request of one whole GPU.
LiveWorkload live_workload(const std::map<runtime::JobId, JobRecord>& jobs, std::size_t window = kWorkloadWindow);

// The `fragmentation` object of the status reply.
api::Json fragmentation_json(const runtime::FragmentationNow& f, const LiveWorkload& workload);

// Prometheus gauges of the same, in GPUs.
std::string render_fragmentation_metrics(const std::string& node, const runtime::FragmentationNow& f);

}  // namespace allot::daemon
