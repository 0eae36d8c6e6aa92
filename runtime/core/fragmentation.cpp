#include "runtime/core/fragmentation.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <tuple>

namespace allot::runtime {

bool accepts_model(std::string_view accepted, std::string_view model) {
  if (accepted.empty()) return true;
  std::size_t begin = 0;
  while (begin <= accepted.size()) {
    std::size_t end = accepted.find('|', begin);
    if (end == std::string_view::npos) end = accepted.size();
    if (accepted.substr(begin, end - begin) == model) return true;
    begin = end + 1;
  }
  return false;
}

std::vector<TaskType> typical_workload(const std::vector<TaskType>& requests, double coverage, std::uint32_t step,
                                       bool cpu_only_types) {
  // Keyed as the authors' PodResource orders itself: cpu, milli per GPU,
  // GPUs, models.
  using Key = std::tuple<Amount, Amount, std::uint32_t, std::string>;
  std::map<Key, double> count;
  double total = 0;
  for (const TaskType& r : requests) {
    const bool gpu = r.gpus > 0 && r.milli_per_gpu > 0;
    if (!gpu && !cpu_only_types) continue;
    count[{r.cpu_milli, gpu ? r.milli_per_gpu : 0, gpu ? r.gpus : 0, gpu ? r.gpu_models : std::string()}] +=
        r.popularity;
    total += r.popularity;
  }
  std::vector<TaskType> types;
  types.reserve(count.size());
  // Reverse map order, so that popularity ties go to the larger request
  // (the authors sort by (popularity, request) descending).
  for (auto it = count.rbegin(); it != count.rend(); ++it)
    types.push_back(
        {std::get<0>(it->first), std::get<2>(it->first), std::get<1>(it->first), std::get<3>(it->first), it->second});
  std::stable_sort(types.begin(), types.end(),
                   [](const TaskType& a, const TaskType& b) { return a.popularity > b.popularity; });
  if (types.empty()) return types;
  step = std::max<std::uint32_t>(step, 1);
  std::size_t taken = 0;
  double covered = 0;
  while (covered < coverage * total && taken < types.size()) {
    const std::size_t until = std::min(types.size(), taken + step);
    for (; taken < until; ++taken) covered += types[taken].popularity;
  }
  types.resize(taken);
  if (covered <= 0) return {};
  for (TaskType& t : types) t.popularity /= covered;
  return types;
}

Amount task_fragmentation(const NodeFree& node, bool model_ok, const TaskType& task) {
  Amount idle = 0;
  for (std::uint32_t i = 0; i < node.gpu_count; ++i) idle += node.gpu_free[i];
  if (task.gpus == 0 || !model_ok || (node.cpu_modelled && node.cpu_milli < task.cpu_milli)) return idle;
  const Amount per_gpu = std::min(task.milli_per_gpu, kMilliPerGpu);
  std::uint32_t fitting = 0;
  Amount short_of = 0;  // remainders too small for one GPU of the task
  for (std::uint32_t i = 0; i < node.gpu_count; ++i) {
    if (node.gpu_free[i] >= per_gpu)
      ++fitting;
    else
      short_of += node.gpu_free[i];
  }
  return fitting >= task.gpus ? short_of : idle;
}

double node_fragmentation(const NodeFree& node, const std::vector<TaskType>& workload,
                          const std::vector<char>& model_ok) {
  return node_fragmentation(node, workload, model_ok.data());
}

double node_fragmentation(const NodeFree& node, const std::vector<TaskType>& workload, const char* model_ok) {
  Amount idle = 0;
  for (std::uint32_t i = 0; i < node.gpu_count; ++i) idle += node.gpu_free[i];
  if (idle == 0) return 0;
  double f = 0;
  for (std::size_t m = 0; m < workload.size(); ++m) {
    const TaskType& task = workload[m];
    Amount frag = idle;
    if (task.gpus > 0 && model_ok[m] != 0 && !(node.cpu_modelled && node.cpu_milli < task.cpu_milli)) {
      const Amount per_gpu = std::min(task.milli_per_gpu, kMilliPerGpu);
      std::uint32_t fitting = 0;
      Amount short_of = 0;
      for (std::uint32_t i = 0; i < node.gpu_count; ++i) {
        const Amount free = node.gpu_free[i];
        fitting += free >= per_gpu ? 1 : 0;
        short_of += free >= per_gpu ? 0 : free;
      }
      if (fitting >= task.gpus) frag = short_of;
    }
    f += task.popularity * static_cast<double>(frag);
  }
  return f;
}

std::vector<std::int64_t> fragmentation_weights(const std::vector<TaskType>& workload) {
  std::vector<std::int64_t> out;
  out.reserve(workload.size());
  for (const TaskType& t : workload) out.push_back(std::llround(t.popularity * FragTerms::kScale));
  return out;
}

void prepare_fragmentation(Amount cpu_free, bool cpu_modelled, const std::vector<TaskType>& workload,
                           const std::vector<std::int64_t>& weights, const char* model_ok, FragTerms& out) {
  out.all_idle_weight = 0;
  out.terms.clear();
  for (std::size_t m = 0; m < workload.size(); ++m) {
    const TaskType& task = workload[m];
    if (task.gpus == 0 || model_ok[m] == 0 || (cpu_modelled && cpu_free < task.cpu_milli)) {
      out.all_idle_weight += weights[m];
      continue;
    }
    const Amount per_gpu = std::min(task.milli_per_gpu, kMilliPerGpu);
    auto it = std::find_if(out.terms.begin(), out.terms.end(),
                           [&](const FragTerms::Term& t) { return t.per_gpu == per_gpu && t.gpus == task.gpus; });
    if (it == out.terms.end())
      out.terms.push_back({per_gpu, task.gpus, weights[m]});
    else
      it->weight += weights[m];
  }
}

std::int64_t scaled_fragmentation(const FragTerms& terms, const Amount* gpu_free, std::uint32_t count) {
  Amount idle = 0;
  for (std::uint32_t i = 0; i < count; ++i) idle += gpu_free[i];
  if (idle == 0) return 0;
  std::int64_t f = terms.all_idle_weight * idle;
  for (const FragTerms::Term& t : terms.terms) {
    std::uint32_t fitting = 0;
    Amount short_of = 0;
    for (std::uint32_t i = 0; i < count; ++i) {
      const Amount free = gpu_free[i];
      fitting += free >= t.per_gpu ? 1 : 0;
      short_of += free >= t.per_gpu ? 0 : free;
    }
    f += t.weight * (fitting >= t.gpus ? short_of : idle);
  }
  return f;
}

}  // namespace allot::runtime
