#!/usr/bin/env python3
"""Writes a generated policy of N quotas, the shape of bench/check_bench.cpp.

    bench/front_end/gen_policy.py QUOTAS [--failing] > policy.allot

One root quota on a pool of 16-GPU nodes (one of each per 9,000 nodes,
a pool's limit being 9,999), groups of about 100 child quotas
(`gpu = 1..8, cpu = 4` each), and per group one workspace with a namespace,
a training and a development queue and the implicit `default-queue`.

--failing: 1% of the leaves carry a workspace whose queue is
non-preemptible and may borrow (`gpu = 1..8` leaves): a real mistake, which
`allot check` reports as E0211, since that queue's borrowed GPUs can block
its siblings' guarantees.
"""
import argparse
import sys


# A pool holds at most 9,999 nodes (E0110); larger policies get one pool and
# one root quota per this many nodes.
NODES_PER_POOL = 9000


def generate(quotas: int, failing: bool, out) -> None:
    groups = max(1, quotas // 100)
    leaves = quotas - 1 - groups
    nodes = (leaves + groups * 8 + 15) // 16
    pools = max(1, -(-nodes // NODES_PER_POOL))
    w = out.write
    w(f"// generated: {quotas} quotas in {groups} groups\n")
    w('flavor hgx-16 { gpu_model = "V100-32G", gpus = 16, gpu_memory = 32GiB, cpu = 96, memory = 1536GiB }\n\n')
    # Groups, and so leaves, are dealt to the roots in consecutive runs.
    first_group = [groups * r // pools for r in range(pools + 1)]

    def members_of(g: int) -> int:
        return leaves // groups + (1 if g < leaves % groups else 0)

    plan = []
    for r in range(pools):
        group_range = range(first_group[r], first_group[r + 1])
        root_leaves = sum(members_of(g) for g in group_range)
        root_gpus = root_leaves + len(group_range) * 8
        plan.append((group_range, root_leaves, root_gpus))
        suffix = "" if pools == 1 else str(r)
        w(f"pool fleet{suffix} {{\n  type = dedicated\n  purpose = training\n"
          "  billing = subscription { term = 12mo, auto_renew = true }\n"
          f"  nodes = {(root_gpus + 15) // 16} x hgx-16\n}}\n\n")
    w("priority training { value = 500, preempts = [development] }\n")
    w("priority development = 100\n")
    w("role tenants { groups = [ml], permissions = [submit, list, cancel] }\n\n")
    leaf = 0
    blocking = []
    for r, (group_range, root_leaves, root_gpus) in enumerate(plan):
        suffix = "" if pools == 1 else str(r)
        w(f"quota root{suffix} on fleet{suffix} {{\n  gpu = {root_gpus}\n  cpu = {root_leaves * 4}\n"
          "  child_preemption = true\n\n")
        for g in group_range:
            members = members_of(g)
            w(f"  quota g{g:05} {{\n    gpu = {members}..{members + 8}\n    cpu = {members * 4}\n"
              "    child_preemption = true\n    roles = [tenants]\n")
            for _ in range(members):
                w(f"    quota t{leaf:06} {{ gpu = 1..8, cpu = 4 }}\n")
                if failing and leaf % 100 == 50:
                    blocking.append(leaf)
                leaf += 1
            w("  }\n")
        w("}\n\n")
    for g in range(groups):
        w(f"workspace w{g:05} on g{g:05} {{\n  namespace main {{\n"
          "    queue batch { priority = training, accepts = [training], roles = [tenants] }\n"
          "    queue dev { priority = development, accepts = [development], gpu_sharing = true }\n  }\n}\n")
    for t in blocking:
        w(f"workspace x{t:06} on t{t:06} {{\n  namespace main {{\n"
          "    queue serve { priority = training, accepts = [training], preemptible = false }\n  }\n}\n")
    w("\n")
    for r in range(pools):
        suffix = "" if pools == 1 else str(r)
        w(f"assert sum(children(root{suffix}).gpu) <= root{suffix}.gpu\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("quotas", type=int)
    parser.add_argument("--failing", action="store_true")
    args = parser.parse_args()
    if args.quotas < 3:
        parser.error("quotas must be at least 3")
    generate(args.quotas, args.failing, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
