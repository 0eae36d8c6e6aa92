// Standing (docs/scheduling.md, "Standing"): at each scope of its path that
// covers something, a running job is inside the scope's guarantee or
// borrows there. Labels are given at admission (or reserved when a
// preemptor is nominated), upgraded when room frees at a scope, and never
// downgraded while the job runs: the no-cycle theorem rests on that.
#include <algorithm>
#include <stdexcept>

#include "runtime/core/scheduler.h"

namespace allot::runtime {

namespace {
std::uint8_t bit(Resource r) { return static_cast<std::uint8_t>(1u << static_cast<unsigned>(r)); }
}  // namespace

bool Scheduler::fits_cover(ScopeId scope, const Resources& inside, const Resources& request) const {
  const ScopeInfo& info = info_[scope];
  for (Resource r : kAllResources)
    if ((info.covers & bit(r)) && inside[r] + request[r] > info.cover[r]) return false;
  return true;
}

std::uint64_t Scheduler::standing_for(ScopeId queue, const Resources& request,
                                      const std::vector<Resources>* freed) const {
  const std::vector<ScopeId>& levels = levels_of_queue_[queue];
  std::uint64_t bits = 0;
  for (std::size_t i = 0; i < levels.size(); ++i) {
    Resources inside = usage_[levels[i]].inside;
    if (freed) inside -= (*freed)[i];
    if (fits_cover(levels[i], inside, request)) bits |= std::uint64_t{1} << i;
  }
  return bits;
}

bool Scheduler::is_inside(const JobRecord& rec, ScopeId scope) const {
  const std::vector<ScopeId>& levels = levels_of_queue_[rec.job.queue];
  for (std::size_t i = 0; i < levels.size(); ++i)
    if (levels[i] == scope) return (rec.inside >> i) & 1;
  return false;  // a scope that covers nothing: everybody borrows there
}

void Scheduler::take_standing(JobRecord& rec, std::uint64_t inside) {
  const std::vector<ScopeId>& levels = levels_of_queue_[rec.job.queue];
  rec.inside = inside;
  for (std::size_t i = 0; i < levels.size(); ++i) {
    if ((inside >> i) & 1)
      usage_[levels[i]].inside += rec.job.request;
    else
      waiting_[levels[i]].insert({rec.wait_key(), &rec});
  }
}

void Scheduler::drop_standing(JobRecord& rec) {
  const std::vector<ScopeId>& levels = levels_of_queue_[rec.job.queue];
  for (std::size_t i = 0; i < levels.size(); ++i) {
    const ScopeId s = levels[i];
    if ((rec.inside >> i) & 1) {
      usage_[s].inside -= rec.job.request;
      if (!room_grew_flag_[s]) {
        room_grew_flag_[s] = 1;
        room_grew_.push_back(s);
      }
    } else {
      waiting_[s].erase({rec.wait_key(), &rec});
    }
  }
  rec.inside = 0;
}

// Head of line: the first waiting job that does not fit stops the scan. That
// is enough for the contract that matters: a scope whose usage is within
// what it covers has every job inside, since then each waiting job fits.
void Scheduler::upgrade_waiting() {
  // Top-down, so that room granted at a scope is seen below it in order.
  std::sort(room_grew_.begin(), room_grew_.end(),
            [&](ScopeId a, ScopeId b) { return info_[a].preorder < info_[b].preorder; });
  for (ScopeId s : room_grew_) {
    room_grew_flag_[s] = 0;
    auto& waiting = waiting_[s];
    while (!waiting.empty()) {
      JobRecord& rec = *waiting.begin()->second;
      if (!fits_cover(s, usage_[s].inside, rec.job.request)) break;
      const std::vector<ScopeId>& levels = levels_of_queue_[rec.job.queue];
      std::size_t i = 0;
      while (levels[i] != s) ++i;
      rec.inside |= std::uint64_t{1} << i;
      usage_[s].inside += rec.job.request;
      waiting.erase(waiting.begin());
      ++epoch_;
    }
  }
  room_grew_.clear();
}

}  // namespace allot::runtime
