// `allot compile --target kueue`: the plan as Kueue objects (docs/backends.md).
// Pools become ResourceFlavors and a pool Cohort holding the capacity no
// scope is guaranteed; quotas, workspaces and namespaces become nested
// Cohorts (nominalQuota = own share, borrowingLimit = limit - guarantee);
// queues become ClusterQueues and LocalQueues; roles become RoleBindings.
#pragma once

#include <string>
#include <vector>

#include "compiler/backend/target.h"
#include "compiler/plan/plan.h"

namespace allot::backend {

// The Kueue API versions `--kueue-version` accepts.
bool known_kueue_version(const std::string& version);

// kueue.yaml and rbac.yaml. Reports every rule Kueue cannot express exactly
// through `lossy` (W04xx) and names that clash after DNS-1123 mapping as E0401.
std::vector<OutputFile> render_kueue(const plan::Plan& plan, const TargetOptions& options, Lossy& lossy);

// A DNS-1123 subdomain (`max` 253) or label (`max` 63, no dots) for a policy
// name: lower case, characters outside [a-z0-9-.] as `-`, trimmed; a name too
// long keeps its start and ends in a hash of the whole, so it stays unique.
std::string dns_name(const std::string& name, bool label);

}  // namespace allot::backend
