#!/usr/bin/env python3
"""Writes a generated policy of N quotas, the shape of bench/check_bench.cpp.

    bench/front_end/gen_policy.py QUOTAS [--failing] > policy.allot

One root quota on a pool of 16-GPU nodes (128-GPU past about 150k quotas,
since a pool has at most 9999 nodes), groups of about 100 child quotas
(`gpu = 1..8, cpu = 4` each), and per group one workspace with a namespace,
a training and a development queue and the implicit `default-queue`.

--failing: 1% of the leaves carry a workspace whose queue is
non-preemptible and may borrow (`gpu = 1..8` leaves): a real mistake, which
`allot check` reports as E0211, since that queue's borrowed GPUs can block
its siblings' guarantees.
"""
import argparse
import sys


def generate(quotas: int, failing: bool, out) -> None:
    groups = max(1, quotas // 100)
    leaves = quotas - 1 - groups
    gpus = leaves + groups * 8
    # A pool has at most 9999 nodes: past 16 x 9999 GPUs (about 150k
    # quotas) the nodes are 8 times larger.
    scale = 1 if gpus <= 16 * 9999 else 8
    per_node = 16 * scale
    nodes = (gpus + per_node - 1) // per_node
    w = out.write
    w(f"// generated: {quotas} quotas in {groups} groups\n")
    w(f'flavor hgx-{per_node} {{ gpu_model = "V100-32G", gpus = {per_node}, gpu_memory = 32GiB, '
      f'cpu = {96 * scale}, memory = {1536 * scale}GiB }}\n\n')
    w("pool fleet {\n  type = dedicated\n  purpose = training\n"
      "  billing = subscription { term = 12mo, auto_renew = true }\n"
      f"  nodes = {nodes} x hgx-{per_node}\n}}\n\n")
    w("priority training { value = 500, preempts = [development] }\n")
    w("priority development = 100\n")
    w("role tenants { groups = [ml], permissions = [submit, list, cancel] }\n\n")
    w(f"quota root on fleet {{\n  gpu = {gpus}\n  cpu = {leaves * 4}\n  child_preemption = true\n\n")
    leaf = 0
    blocking = []
    for g in range(groups):
        members = leaves // groups + (1 if g < leaves % groups else 0)
        w(f"  quota g{g:05} {{\n    gpu = {members}..{members + 8}\n    cpu = {members * 4}\n    child_preemption = true\n    roles = [tenants]\n")
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
    w("\nassert sum(children(root).gpu) <= root.gpu\n")


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
