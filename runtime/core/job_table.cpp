// The scheduler's job table: open addressing over job ids, so that a job is
// found without a node allocation per job (scheduler.h, `jobs_`).
#include "runtime/core/scheduler.h"

namespace allot::runtime {

std::size_t Scheduler::slot_of(JobId id) const {
  // Fibonacci hashing: spreads sequential and strided ids alike.
  return static_cast<std::size_t>((id * 0x9e3779b97f4a7c15ull) >> job_shift_);
}

Scheduler::JobRecord* Scheduler::find_job(JobId id) const {
  if (job_count_ == 0) return nullptr;
  const std::size_t mask = job_slots_.size() - 1;
  for (std::size_t i = slot_of(id);; i = (i + 1) & mask) {
    const JobSlot& slot = job_slots_[i];
    if (!slot.rec) return nullptr;
    if (slot.id == id) return slot.rec;
  }
}

Scheduler::JobRecord& Scheduler::at_job(JobId id) const {
  JobRecord* rec = find_job(id);
  if (!rec) throw std::out_of_range("allot scheduler: unknown job " + std::to_string(id));
  return *rec;
}

void Scheduler::grow_jobs() {
  std::vector<JobSlot> old = std::move(job_slots_);
  const std::size_t size = old.empty() ? 1024 : old.size() * 2;
  job_slots_.assign(size, JobSlot{});
  job_shift_ = 64 - static_cast<unsigned>(std::countr_zero(size));
  const std::size_t mask = size - 1;
  for (const JobSlot& e : old) {
    if (!e.rec) continue;
    std::size_t i = slot_of(e.id);
    while (job_slots_[i].rec) i = (i + 1) & mask;
    job_slots_[i] = e;
  }
}

Scheduler::JobRecord& Scheduler::insert_job(JobRecord&& rec) {
  if ((job_count_ + 1) * 2 > job_slots_.size()) grow_jobs();
  JobRecord* stored;
  if (free_records_.empty()) {
    stored = &job_pool_.emplace_back(std::move(rec));
  } else {
    stored = free_records_.back();
    free_records_.pop_back();
    *stored = std::move(rec);
  }
  const std::size_t mask = job_slots_.size() - 1;
  std::size_t i = slot_of(stored->job.id);
  while (job_slots_[i].rec) i = (i + 1) & mask;
  job_slots_[i] = {stored->job.id, stored};
  ++job_count_;
  return *stored;
}

void Scheduler::erase_job(JobId id) {
  const std::size_t mask = job_slots_.size() - 1;
  std::size_t i = slot_of(id);
  while (!job_slots_[i].rec || job_slots_[i].id != id) i = (i + 1) & mask;
  free_records_.push_back(job_slots_[i].rec);
  // Backward-shift deletion: move up every later entry of the run that may
  // sit in the hole (its home is not cyclically within (hole, its slot]).
  for (std::size_t j = i;;) {
    j = (j + 1) & mask;
    if (!job_slots_[j].rec) break;
    const std::size_t home = slot_of(job_slots_[j].id);
    if (((j - home) & mask) >= ((j - i) & mask)) {
      job_slots_[i] = job_slots_[j];
      i = j;
    }
  }
  job_slots_[i] = JobSlot{};
  --job_count_;
}

}  // namespace allot::runtime
