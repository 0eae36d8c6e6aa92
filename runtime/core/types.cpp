#include "runtime/core/types.h"

#include "runtime/core/job.h"

namespace allot::runtime {

const char* to_string(Resource r) {
  switch (r) {
    case Resource::gpu:
      return "gpu";
    case Resource::cpu:
      return "cpu";
    case Resource::memory:
      return "memory";
  }
  return "?";
}

const char* to_string(RefusalReason reason) {
  switch (reason) {
    case RefusalReason::duplicate_id:
      return "duplicate_id";
    case RefusalReason::unknown_queue:
      return "unknown_queue";
    case RefusalReason::unknown_priority:
      return "unknown_priority";
    case RefusalReason::invalid_request:
      return "invalid_request";
    case RefusalReason::kind_not_accepted:
      return "kind_not_accepted";
    case RefusalReason::user_not_authorized:
      return "user_not_authorized";
    case RefusalReason::fractional_gpu_not_shared:
      return "fractional_gpu_not_shared";
    case RefusalReason::exceeds_limit:
      return "exceeds_limit";
    case RefusalReason::exceeds_cluster:
      return "exceeds_cluster";
  }
  return "?";
}

const char* to_string(PreemptionReason reason) {
  switch (reason) {
#define ALLOT_RULE(number, identifier, claim) \
  case PreemptionReason::identifier:          \
    return #identifier;
#include "rules/preemption_rules.def"
#undef ALLOT_RULE
  }
  return "?";
}

int rule_number(PreemptionReason reason) {
  switch (reason) {
#define ALLOT_RULE(number, identifier, claim) \
  case PreemptionReason::identifier:          \
    return number;
#include "rules/preemption_rules.def"
#undef ALLOT_RULE
  }
  return 0;
}

const char* rule_claim(PreemptionReason reason) {
  switch (reason) {
#define ALLOT_RULE(number, identifier, claim) \
  case PreemptionReason::identifier:          \
    return claim;
#include "rules/preemption_rules.def"
#undef ALLOT_RULE
  }
  return "?";
}

const char* to_string(RestoreErrorKind kind) {
  switch (kind) {
    case RestoreErrorKind::duplicate_id:
      return "duplicate_id";
    case RestoreErrorKind::unknown_queue:
      return "unknown_queue";
    case RestoreErrorKind::unknown_priority:
      return "unknown_priority";
    case RestoreErrorKind::unknown_gpu:
      return "unknown_gpu";
    case RestoreErrorKind::gpu_over_assigned:
      return "gpu_over_assigned";
    case RestoreErrorKind::gpus_do_not_match_request:
      return "gpus_do_not_match_request";
  }
  return "?";
}

}  // namespace allot::runtime
