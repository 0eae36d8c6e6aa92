// `allot simulate`: trace parsers, queue assignment, the event loop on small
// traces whose outcome is known exactly, the reports and the command.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <queue>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include "runtime/core/scheduler.h"
#include "runtime/sim/assign.h"
#include "runtime/sim/command.h"
#include "runtime/sim/report.h"
#include "runtime/sim/simulator.h"
#include "runtime/sim/svg.h"
#include "runtime/sim/trace.h"

using namespace allot::runtime;
using namespace allot::runtime::sim;

namespace {

constexpr const char* kOpenbHeader =
    "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time\n";

Trace parse_ok(const std::string& text) {
  TraceResult r = parse_trace(text, "t.csv");
  if (const InputError* e = std::get_if<InputError>(&r)) FAIL(e->to_string());
  return std::get<Trace>(r);
}

InputError parse_error(const std::string& text) {
  TraceResult r = parse_trace(text, "t.csv");
  REQUIRE(std::holds_alternative<InputError>(r));
  return std::get<InputError>(r);
}

Scope quota(std::string name, ScopeId parent, Amount guarantee_gpus, std::optional<Amount> limit_gpus) {
  Scope s;
  s.kind = ScopeKind::quota;
  s.name = std::move(name);
  s.parent = parent;
  s.bounds.gpu = Bound{guarantee_gpus * 1000, limit_gpus ? std::optional<Amount>(*limit_gpus * 1000) : std::nullopt};
  return s;
}

Scope queue(std::string name, ScopeId parent, OnPreempt on_preempt = OnPreempt::requeue) {
  Scope s;
  s.kind = ScopeKind::queue;
  s.name = std::move(name);
  s.parent = parent;
  s.queue.on_preempt = on_preempt;
  s.queue.gpu_sharing = true;
  return s;
}

// One node of `gpus` GPUs; quotas A and B each guaranteed half, each allowed
// the whole node; one queue under each ("A/q", "B/q").
Cluster two_tenants(std::uint32_t gpus, OnPreempt on_preempt = OnPreempt::requeue) {
  Cluster c;
  c.nodes.push_back({"n0", gpus, "A100", 0});
  c.scopes.push_back(quota("A", kNone, gpus / 2, gpus));
  c.scopes.push_back(quota("B", kNone, gpus / 2, gpus));
  c.scopes.push_back(queue("A/q", 0, on_preempt));
  c.scopes.push_back(queue("B/q", 1, on_preempt));
  return c;
}

std::vector<SimJob> resolve_ok(const Cluster& c, const Trace& t) {
  ResolveResult r = resolve_jobs(c, t, nullptr, "", 0);
  REQUIRE(std::holds_alternative<std::vector<SimJob>>(r));
  return std::get<std::vector<SimJob>>(r);
}

// A strict, small XML well-formedness check: balanced tags, quoted
// attributes, only the predefined entities, nothing after the root.
bool well_formed_xml(const std::string& xml, std::string& why) {
  std::vector<std::string> stack;
  std::size_t i = 0;
  bool root_closed = false;
  auto entity_ok = [&](std::size_t at) {
    for (const char* e : {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"})
      if (xml.compare(at, std::char_traits<char>::length(e), e) == 0) return true;
    return false;
  };
  while (i < xml.size()) {
    if (xml[i] == '<') {
      if (root_closed) return why = "content after the root element", false;
      if (xml.compare(i, 5, "<?xml") == 0) {
        i = xml.find("?>", i);
        if (i == std::string::npos) return why = "unterminated declaration", false;
        i += 2;
        continue;
      }
      const std::size_t end = xml.find('>', i);
      if (end == std::string::npos) return why = "unterminated tag", false;
      std::string tag = xml.substr(i + 1, end - i - 1);
      if (!tag.empty() && tag[0] == '/') {
        if (stack.empty() || stack.back() != tag.substr(1)) return why = "mismatched </" + tag.substr(1) + ">", false;
        stack.pop_back();
        if (stack.empty()) root_closed = true;
      } else {
        const bool self_closing = !tag.empty() && tag.back() == '/';
        if (self_closing) tag.pop_back();
        const std::size_t sp = tag.find_first_of(" \n\t");
        const std::string name = tag.substr(0, sp);
        if (name.empty()) return why = "empty tag name", false;
        // attributes: name="value" pairs
        std::size_t p = sp == std::string::npos ? tag.size() : sp;
        while (p < tag.size()) {
          while (p < tag.size() && std::isspace(static_cast<unsigned char>(tag[p]))) ++p;
          if (p >= tag.size()) break;
          const std::size_t eq = tag.find('=', p);
          if (eq == std::string::npos || eq + 1 >= tag.size() || tag[eq + 1] != '"')
            return why = "unquoted attribute in <" + name + ">", false;
          const std::size_t close = tag.find('"', eq + 2);
          if (close == std::string::npos) return why = "unterminated attribute in <" + name + ">", false;
          const std::string value = tag.substr(eq + 2, close - eq - 2);
          if (value.find('<') != std::string::npos) return why = "< in attribute", false;
          for (std::size_t a = value.find('&'); a != std::string::npos; a = value.find('&', a + 1))
            if (!entity_ok(tag.size() ? (i + 1 + eq + 2 + a) : 0)) return why = "bad entity in attribute", false;
          p = close + 1;
        }
        if (!self_closing)
          stack.push_back(name);
        else if (stack.empty())
          root_closed = true;
      }
      i = end + 1;
    } else {
      if (xml[i] == '&' && !entity_ok(i)) return why = "bad entity in text", false;
      if (xml[i] == '>') return why = "stray > in text", false;
      ++i;
    }
  }
  if (!stack.empty()) return why = "unclosed <" + stack.back() + ">", false;
  if (!root_closed) return why = "no root element", false;
  return true;
}

}  // namespace

// ---- trace parsers -------------------------------------------------------------

TEST_CASE("sim: openb pods become jobs; QoS decides preemptibility; unusable pods are counted", "[sim]") {
  const std::string text = std::string(kOpenbHeader) +
                           "p0,12000,16384,1,1000,,LS,Running,0,100,0\n"            // whole GPU, not preemptible
                           "p1,6000,12288,1,460,,BE,Running,10,70,20\n"             // a share, runs 50 s
                           "p2,20000,65536,0,0,,LS,Running,5,50,5\n"                // CPU only: skipped
                           "p3,8000,30000,8,1000,,Burstable,Failed,7,7,7\n"         // runtime 0: skipped
                           "p4,8000,30000,2,1000,V100,Guaranteed,Pending,30,90,\n"  // unscheduled: from creation
                           "p5,8000,30000,1,1000,,BE,Running,40,,\n";               // never deleted: skipped
  const Trace t = parse_ok(text);
  CHECK(t.format == TraceFormat::openb);
  CHECK(t.lines == 6);
  REQUIRE(t.jobs.size() == 3);
  CHECK(t.jobs[0].name == "p0");
  CHECK_FALSE(t.jobs[0].preemptible);
  CHECK(t.jobs[0].request.gpu_milli == 1000);
  CHECK(t.jobs[0].runtime_ms == 100000);
  CHECK(t.jobs[1].preemptible);
  CHECK(t.jobs[1].request.gpu_milli == 460);
  CHECK(t.jobs[1].submit_ms == 10000);
  CHECK(t.jobs[1].runtime_ms == 50000);
  CHECK(t.jobs[2].name == "p4");
  CHECK_FALSE(t.jobs[2].preemptible);
  CHECK(t.jobs[2].request.gpu_milli == 2000);
  CHECK(t.jobs[2].runtime_ms == 60000);
  CHECK(t.jobs[2].line == 6);
  CHECK(t.skipped[static_cast<std::size_t>(SkipReason::no_gpu_request)] == 1);
  CHECK(t.skipped[static_cast<std::size_t>(SkipReason::non_positive_runtime)] == 1);
  CHECK(t.skipped[static_cast<std::size_t>(SkipReason::not_deleted)] == 1);
}

TEST_CASE("sim: malformed trace lines give located errors", "[sim]") {
  SECTION("a bad number") {
    const InputError e = parse_error(std::string(kOpenbHeader) + "p0,12000,16384,1,1000,,LS,Running,0,100,0\n" +
                                     "p1,12000,16384,x1,1000,,LS,Running,0,100,0\n");
    CHECK(e.line == 3);
    CHECK(e.column == 16);
    CHECK(e.to_string() == "t.csv:3:16: `num_gpu` must be an integer, not `x1`");
  }
  SECTION("too few fields") {
    const InputError e = parse_error(std::string(kOpenbHeader) + "p0,12000,16384,1,1000\n");
    CHECK(e.line == 2);
    CHECK(e.message.find("missing column `qos`") != std::string::npos);
  }
  SECTION("a time too large to count in milliseconds") {
    const InputError e =
        parse_error(std::string(kOpenbHeader) + "p0,12000,16384,1,1000,,LS,Running,0,99999999999999001,0\n");
    CHECK(e.line == 2);
    CHECK(e.to_string() == "t.csv:2:37: `deletion_time` is too large");
    CHECK(parse_error(std::string(kOpenbHeader) + "p0,12000,16384,1,1000,,LS,Running,-1,100,0\n").message ==
          "`creation_time` must not be negative");
  }
  SECTION("an unknown qos") {
    const InputError e = parse_error(std::string(kOpenbHeader) + "p0,12000,16384,1,1000,,XX,Running,0,100,0\n");
    CHECK(e.line == 2);
    CHECK(e.column == 24);
  }
  SECTION("an unknown header") {
    const InputError e = parse_error("a,b,c\n1,2,3\n");
    CHECK(e.line == 1);
  }
  SECTION("an empty file") { CHECK(parse_error("").line == 0); }
  SECTION("generic: a bad kind and a negative duration") {
    const std::string h = "submit_time,duration,queue,user,kind,priority,gpus\n";
    const InputError kind = parse_error(h + "0,10,A/q,u,batch,,1\n");
    CHECK(kind.line == 2);
    CHECK(kind.column == 12);
    const InputError neg = parse_error(h + "0,-10,A/q,u,training,,1\n");
    CHECK(neg.column == 3);
  }
  SECTION("a quoted field") {
    CHECK(parse_error("submit_time,duration,queue,user,kind,priority,gpus\n\"0\",1,q,u,training,,1\n").column == 1);
  }
}

TEST_CASE("sim: the generic format reads seconds, GPU fractions, cores and MiB", "[sim]") {
  const Trace t = parse_ok(
      "submit_time,duration,queue,user,kind,priority,gpus,cpu,memory\r\n"
      "1.5,60,A/q,alice,inference,high,0.5,2.5,4096\r\n"
      "\n"
      "3,0,B/q,bob,training,,1,,\r\n");
  CHECK(t.format == TraceFormat::generic);
  REQUIRE(t.jobs.size() == 1);
  const TraceJob& j = t.jobs[0];
  CHECK(j.submit_ms == 1500);
  CHECK(j.runtime_ms == 60000);
  CHECK(j.queue == "A/q");
  CHECK(j.user == "alice");
  CHECK(j.kind == WorkloadKind::inference);
  CHECK(j.priority == "high");
  CHECK(j.request == Resources{500, 2500, 4096});
  CHECK(t.skipped[static_cast<std::size_t>(SkipReason::non_positive_runtime)] == 1);
}

TEST_CASE("sim: the openb node list", "[sim]") {
  NodeListResult r =
      parse_node_list("sn,cpu_milli,memory_mib,gpu,model\nn0,64000,262144,2,P100\nn1,32000,1,0,\n", "n.csv");
  REQUIRE(std::holds_alternative<std::vector<NodeRow>>(r));
  const auto& nodes = std::get<std::vector<NodeRow>>(r);
  REQUIRE(nodes.size() == 1);  // the GPU-less node is dropped
  CHECK(nodes[0].name == "n0");
  CHECK(nodes[0].gpus == 2);
  CHECK(nodes[0].model == "P100");
  NodeListResult bad = parse_node_list("sn,cpu_milli,memory_mib,gpu,model\nn0,64000,262144,99,P100\n", "n.csv");
  REQUIRE(std::holds_alternative<InputError>(bad));
  CHECK(std::get<InputError>(bad).to_string() == "n.csv:2:17: `gpu` must be between 0 and 64");
}

// ---- queue assignment --------------------------------------------------------------

TEST_CASE("sim: FNV-1a 64 and the assignment hash are stable", "[sim]") {
  CHECK(fnv1a64("") == 0xcbf29ce484222325ull);
  CHECK(fnv1a64("a") == 0xaf63dc4c8601ec8cull);
  CHECK(fnv1a64("foobar") == 0x85944171f73967e8ull);
  CHECK(assignment_hash("openb-pod-0001", 0) == assignment_hash("openb-pod-0001", 0));
  CHECK(assignment_hash("openb-pod-0001", 0) != assignment_hash("openb-pod-0001", 7));
}

TEST_CASE("sim: the hash assignment follows the guarantees' weights and the seed", "[sim]") {
  Cluster c;
  c.scopes.push_back(quota("root", kNone, 100, std::nullopt));
  c.scopes.push_back(quota("x", 0, 10, std::nullopt));
  c.scopes.push_back(quota("y", 0, 20, std::nullopt));
  c.scopes.push_back(quota("z", 0, 70, std::nullopt));
  CHECK(add_synthetic_queues(c) == 3);
  CHECK(c.scopes[4].name == "x/sim-queue");
  CHECK(resolve_queue(c, "y") == 5);
  CHECK(resolve_queue(c, "z/sim-queue") == 6);
  CHECK(resolve_queue(c, "root") == kNone);  // three queues below: ambiguous
  const std::vector<QueueWeight> w = guarantee_weights(c);
  REQUIRE(w.size() == 3);
  CHECK(w[0].weight == 10000);  // root's own share is 0: its children hold all of it
  CHECK(w[1].weight == 20000);
  CHECK(w[2].weight == 70000);
  const HashAssigner assigner(w);
  std::map<ScopeId, int> count;
  constexpr int kNames = 100000;
  std::vector<ScopeId> first;
  for (int i = 0; i < kNames; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "openb-pod-%06d", i);
    const ScopeId q = assigner.pick(name, 0);
    ++count[q];
    if (i < 1000) first.push_back(q);
  }
  CHECK(count[4] / double(kNames) == Approx(0.10).margin(0.01));
  CHECK(count[5] / double(kNames) == Approx(0.20).margin(0.01));
  CHECK(count[6] / double(kNames) == Approx(0.70).margin(0.01));
  // Deterministic, and the seed changes the assignment.
  int same = 0, differs = 0;
  for (int i = 0; i < 1000; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "openb-pod-%06d", i);
    same += assigner.pick(name, 0) == first[static_cast<std::size_t>(i)];
    differs += assigner.pick(name, 42) != first[static_cast<std::size_t>(i)];
  }
  CHECK(same == 1000);
  CHECK(differs > 300);
}

TEST_CASE("sim: a mapping file pins pods and replaces the weights", "[sim]") {
  Cluster c = two_tenants(4);
  MappingResult m = parse_mapping("[pods]\n\"p1\" = \"B\"\n[weights]\n\"A/q\" = 1\n\"B\" = 0\n", "m.toml");
  REQUIRE(std::holds_alternative<Mapping>(m));
  const Trace t = parse_ok(std::string(kOpenbHeader) +
                           "p0,1,1,1,1000,,BE,Running,0,10,0\n"
                           "p1,1,1,1,1000,,BE,Running,0,10,0\n"
                           "p2,1,1,1,1000,,BE,Running,0,10,0\n");
  ResolveResult r = resolve_jobs(c, t, &std::get<Mapping>(m), "m.toml", 0);
  REQUIRE(std::holds_alternative<std::vector<SimJob>>(r));
  const auto& jobs = std::get<std::vector<SimJob>>(r);
  CHECK(jobs[0].job.queue == 2);  // only A/q weighs anything
  CHECK(jobs[1].job.queue == 3);  // pinned
  CHECK(jobs[2].job.queue == 2);
  MappingResult bad = parse_mapping("[pods]\n\"p1\" = 3\n", "m.toml");
  REQUIRE(std::holds_alternative<InputError>(bad));
  CHECK(std::get<InputError>(bad).line == 2);
  MappingResult unknown = parse_mapping("[pods]\n\"p1\" = \"nowhere\"\n", "m.toml");
  CHECK(std::holds_alternative<InputError>(resolve_jobs(c, t, &std::get<Mapping>(unknown), "m.toml", 0)));
}

// ---- the event loop ------------------------------------------------------------------

TEST_CASE("sim: reclaim preempts the borrower, which restarts in full later", "[sim]") {
  const Cluster c = two_tenants(4);
  const Trace t = parse_ok(
      "submit_time,duration,queue,user,kind,priority,gpus\n"
      "0,100,A/q,u,training,,4\n"    // job 1: A borrows B's half
      "10,50,B/q,u,training,,2\n"    // job 2: B reclaims, job 1 is requeued
      "20,10,B/q,u,training,,1\n");  // job 3: fits beside job 2 (job 1 waits for 4)
  SimOptions options;
  options.record_decisions = true;
  const SimResult r = simulate(c, resolve_ok(c, t), options);
  REQUIRE(r.jobs.size() == 3);
  CHECK(r.jobs[0].outcome == JobOutcome::completed);
  CHECK(r.jobs[0].first_start == 0);
  CHECK(r.jobs[0].preemptions == 1);
  CHECK(r.jobs[0].end == 160000);  // restarted at 60 s when job 2 left, full 100 s
  CHECK(r.jobs[1].first_start == 10000);
  CHECK(r.jobs[1].end == 60000);
  CHECK(r.jobs[2].first_start == 20000);
  CHECK(r.jobs[2].end == 30000);
  CHECK(r.preemptions == 1);
  CHECK(r.requeues == 1);
  CHECK(r.start == 0);
  CHECK(r.end == 160000);
  // Decisions in order: admit 1; preempt 1 for 2; admit 2; admit 3; admit 1 again.
  REQUIRE(r.decisions.size() == 5);
  CHECK(r.decisions[0].at == 0);
  CHECK(r.decisions[0].decision.admitted.at(0).job == 1);
  CHECK(r.decisions[1].at == 10000);
  REQUIRE(r.decisions[1].decision.preempted.size() == 1);
  CHECK(r.decisions[1].decision.preempted[0].victim == 1);
  CHECK(r.decisions[1].decision.preempted[0].preemptor == 2);
  CHECK(r.decisions[1].decision.preempted[0].reason == PreemptionReason::reclaim_guarantee);
  CHECK(r.decisions[2].decision.admitted.at(0).job == 2);
  CHECK(r.decisions[3].at == 20000);
  CHECK(r.decisions[3].decision.admitted.at(0).job == 3);
  CHECK(r.decisions[4].at == 60000);
  CHECK(r.decisions[4].decision.admitted.at(0).job == 1);
  // A had demand pending and nothing running from 10 s to 60 s: 50 s below
  // its 2-GPU guarantee, 2 GPUs short.
  CHECK(r.scopes[0].violation_ms == 50000);
  CHECK(r.scopes[0].shortfall_milli_ms == Approx(2000.0 * 50000));
  CHECK(r.scopes[1].violation_ms == 0);
  CHECK(r.scopes[0].preempted == 1);
  CHECK(r.scopes[0].requeued == 1);
  // GPU time: A 4 GPUs x 10 s + 4 x 100 s; B 2 x 50 s + 1 x 10 s.
  CHECK(r.scopes[0].gpu_milli_ms == Approx(4000.0 * 110000));
  CHECK(r.scopes[1].gpu_milli_ms == Approx(2000.0 * 50000 + 1000.0 * 10000));
}

TEST_CASE("sim: on_preempt = cancel ends the victim", "[sim]") {
  const Cluster c = two_tenants(4, OnPreempt::cancel);
  const Trace t = parse_ok(
      "submit_time,duration,queue,user,kind,priority,gpus\n"
      "0,100,A/q,u,training,,4\n"
      "10,50,B/q,u,training,,2\n");
  const SimResult r = simulate(c, resolve_ok(c, t));
  CHECK(r.jobs[0].outcome == JobOutcome::cancelled);
  CHECK(r.jobs[0].end == 10000);
  CHECK(r.cancellations == 1);
  CHECK(r.requeues == 0);
  CHECK(r.end == 60000);
}

TEST_CASE("sim: non-preemptible (LS) work is never a victim", "[sim]") {
  const Cluster c = two_tenants(4);
  const Trace t = parse_ok(
      "submit_time,duration,queue,user,kind,priority,gpus,preemptible\n"
      "0,100,A/q,u,training,,4,false\n"
      "10,50,B/q,u,training,,2,\n");
  const SimResult r = simulate(c, resolve_ok(c, t));
  CHECK(r.preemptions == 0);
  CHECK(r.jobs[1].first_start == 100000);
  CHECK(r.scopes[1].violation_ms == 90000);
}

TEST_CASE("sim: FIFO on one GPU gives exactly known delay percentiles", "[sim]") {
  Cluster c;
  c.nodes.push_back({"n0", 1, "A100", 0});
  c.scopes.push_back(quota("T", kNone, 1, 1));
  c.scopes.push_back(queue("T/q", 0));
  std::string text = "submit_time,duration,queue,user,kind,priority,gpus\n";
  for (int i = 0; i < 5; ++i) text += "0,10,T/q,u,training,,1\n";
  const SimResult r = simulate(c, resolve_ok(c, parse_ok(text)));
  REQUIRE(r.delays_ms == std::vector<Time>{0, 10000, 20000, 30000, 40000});
  CHECK(percentile(r.delays_ms, 50) == 20000);
  CHECK(percentile(r.delays_ms, 95) == 40000);
  CHECK(percentile(r.delays_ms, 99) == 40000);
  CHECK(percentile(r.delays_ms, 20) == 0);
  CHECK(r.end == 50000);
  const Summary s = summarize(c, r);
  CHECK(s.utilization == Approx(1.0));
  CHECK(s.delay_mean_s == Approx(20.0));
  CHECK(s.completed == 5);
}

TEST_CASE("sim: refused and never-running jobs are counted, not lost", "[sim]") {
  Cluster c = two_tenants(4);
  c.scopes[2].queue.gpu_sharing = false;
  const Trace t = parse_ok(
      "submit_time,duration,queue,user,kind,priority,gpus\n"
      "0,10,A/q,u,training,,0.5\n"    // fractional on a queue without sharing
      "0,10,nowhere,u,training,,1\n"  // unknown queue
      "0,10,B/q,u,training,,5\n"      // exceeds B's limit of 4
      "0,10,B/q,u,training,nope,1\n");
  const SimResult r = simulate(c, resolve_ok(c, t));
  CHECK(r.refusals[static_cast<std::size_t>(RefusalReason::fractional_gpu_not_shared)] == 1);
  CHECK(r.refusals[static_cast<std::size_t>(RefusalReason::unknown_queue)] == 1);
  CHECK(r.refusals[static_cast<std::size_t>(RefusalReason::exceeds_limit)] == 1);
  CHECK(r.refusals[static_cast<std::size_t>(RefusalReason::unknown_priority)] == 1);
  for (const JobResult& j : r.jobs) CHECK(j.outcome == JobOutcome::refused);
}

TEST_CASE("sim: fragmentation counts idle GPUs that cannot host the head request", "[sim]") {
  Cluster c;
  c.nodes.push_back({"n0", 2, "A100", 0});
  c.nodes.push_back({"n1", 2, "A100", 0});
  c.scopes.push_back(quota("T", kNone, 4, 4));
  c.scopes.push_back(queue("T/q", 0));
  // Two 1-GPU jobs land on different nodes? The core packs (best fit), so
  // use a share: 0.5 GPU on n0, then 1 GPU, then a 2-GPU job that waits.
  const Trace t = parse_ok(
      "submit_time,duration,queue,user,kind,priority,gpus\n"
      "0,100,T/q,u,training,,0.5\n"
      "0,100,T/q,u,training,,2\n"
      "0,100,T/q,u,training,,2\n");
  const SimResult r = simulate(c, resolve_ok(c, t));
  // 0.5 + 2 GPUs run; the second 2-GPU job waits 100 s. Idle: 1.5 GPUs, all
  // on the half-used node (1 whole GPU + the 0.5 remainder): fragmented.
  CHECK(r.jobs[2].first_start == 100000);
  CHECK(r.fragmented_milli_ms == Approx(1500.0 * 100000));
}

// ---- the simulator decides exactly what the Scheduler decides --------------------------

TEST_CASE("sim: the event loop's decisions equal a Scheduler fed the same jobs directly", "[sim]") {
  Cluster c;
  for (int n = 0; n < 4; ++n) c.nodes.push_back({"n" + std::to_string(n), 8, "A100", 4});
  c.priorities.push_back({"low", 100, {}});
  c.priorities.push_back({"high", 1000, {0}});
  c.scopes.push_back(quota("org", kNone, 32, 32));
  c.scopes.push_back(quota("a", 0, 16, 32));
  c.scopes.push_back(quota("b", 0, 12, 32));
  c.scopes.push_back(quota("c", 0, 4, 32));
  c.scopes.push_back(queue("a/q", 1));
  c.scopes.push_back(queue("b/q", 2));
  c.scopes.push_back(queue("c/q", 3, OnPreempt::cancel));
  c.scopes[4].queue.default_priority = 0;
  c.scopes[5].queue.default_priority = 0;
  c.scopes[6].queue.default_priority = 0;
  // A deterministic pseudo-random trace with contention.
  std::vector<SimJob> jobs;
  std::uint64_t state = 12345;
  auto next = [&](std::uint64_t n) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return (state >> 33) % n;
  };
  Time t = 0;
  for (JobId id = 1; id <= 300; ++id) {
    SimJob s;
    s.job.id = id;
    s.job.queue = static_cast<ScopeId>(4 + next(3));
    s.job.user = "u";
    constexpr Amount kSizes[] = {500, 1000, 1000, 2000, 4000, 8000};
    s.job.request.gpu_milli = kSizes[next(6)];
    if (next(5) == 0) s.job.priority = 1;
    t += static_cast<Time>(next(4000));
    s.job.submit_time = t;
    s.runtime_ms = 1000 + static_cast<Time>(next(60000));
    jobs.push_back(std::move(s));
  }
  SimOptions options;
  options.record_decisions = true;
  const SimResult r = simulate(c, jobs, options);
  CHECK(r.preemptions > 0);

  // The same sequence by hand: the plainest possible loop over the Scheduler.
  Scheduler s(c);
  std::vector<LoggedDecision> log;
  std::vector<std::uint32_t> run(jobs.size() + 1, 0);
  using Event = std::tuple<Time, JobId, std::uint32_t>;  // completion at, job, run
  std::priority_queue<Event, std::vector<Event>, std::greater<>> done;
  std::size_t next_job = 0;
  while (next_job < jobs.size() || !done.empty()) {
    Time now = next_job < jobs.size() ? jobs[next_job].job.submit_time : std::get<0>(done.top());
    if (!done.empty()) now = std::min(now, std::get<0>(done.top()));
    while (!done.empty() && std::get<0>(done.top()) == now) {
      const auto [at, id, which] = done.top();
      done.pop();
      if (which == run[id]) s.finish(id);
    }
    while (next_job < jobs.size() && jobs[next_job].job.submit_time == now) s.submit(jobs[next_job++].job, now);
    for (;;) {
      Decision d = s.schedule(now);
      if (d.admitted.empty() && d.preempted.empty()) break;
      for (const Admission& a : d.admitted) done.emplace(now + jobs[a.job - 1].runtime_ms, a.job, ++run[a.job]);
      for (const Preemption& p : d.preempted) {
        ++run[p.victim];
        s.release(p.victim);
      }
      log.push_back({now, std::move(d)});
    }
  }
  REQUIRE(log.size() == r.decisions.size());
  for (std::size_t i = 0; i < log.size(); ++i) {
    INFO("decision " << i);
    const Decision& a = log[i].decision;
    const Decision& b = r.decisions[i].decision;
    CHECK(log[i].at == r.decisions[i].at);
    REQUIRE(a.admitted.size() == b.admitted.size());
    for (std::size_t k = 0; k < a.admitted.size(); ++k) {
      CHECK(a.admitted[k].job == b.admitted[k].job);
      CHECK(a.admitted[k].gpus == b.admitted[k].gpus);
    }
    REQUIRE(a.preempted.size() == b.preempted.size());
    for (std::size_t k = 0; k < a.preempted.size(); ++k) {
      CHECK(a.preempted[k].victim == b.preempted[k].victim);
      CHECK(a.preempted[k].preemptor == b.preempted[k].preemptor);
      CHECK(a.preempted[k].reason == b.preempted[k].reason);
    }
  }
}

// ---- reports --------------------------------------------------------------------------

TEST_CASE("sim: reports are deterministic and the SVG charts are well-formed XML", "[sim]") {
  Cluster c = two_tenants(4);
  c.scopes[0].name = "A <&> \"quoted\"";  // names are escaped
  const Trace t = parse_ok(
      "submit_time,duration,queue,user,kind,priority,gpus\n"
      "0,100,A/q,u,training,,4\n"
      "10,50,B/q,u,training,,2\n"
      "20,10,B/q,u,training,,1\n");
  const std::vector<SimJob> jobs = resolve_ok(c, t);
  const SimResult r1 = simulate(c, jobs), r2 = simulate(c, jobs);
  RunContext ctx;
  ctx.plan = "plan.toml";
  ctx.trace = "t.csv";
  ctx.inventory = "plan";
  ctx.format = TraceFormat::generic;
  CHECK(report_json(c, ctx, r1) == report_json(c, ctx, r2));
  CHECK(timeseries_csv(c, r1) == timeseries_csv(c, r2));
  CHECK(scopes_csv(c, r1) == scopes_csv(c, r2));
  CHECK(jobs_csv(c, jobs, r1) == jobs_csv(c, jobs, r2));
  // One row per job in trace order: job 1 was preempted by job 2 at 10 s and
  // ran again in full from 60 s.
  const std::string per_job = jobs_csv(c, jobs, r1);
  INFO(per_job);
  CHECK(per_job.rfind("id,queue,user,submit,first_start,end,outcome,preemptions,last_preemptor,last_rule,"
                      "last_claim_scope,last_victim_scope\n",
                      0) == 0);
  CHECK(per_job.find("\n1,A/q,u,0.000,0.000,160.000,completed,1,2,R2 reclaim_guarantee,B,\"A <&> \"\"quoted\"\"\"\n") !=
        std::string::npos);
  CHECK(per_job.find("\n2,B/q,u,10.000,10.000,60.000,completed,0,,,,\n") != std::string::npos);
  CHECK(std::count(per_job.begin(), per_job.end(), '\n') == 4);
  CHECK(report_json(c, ctx, r1).find("\"path\": \"A <&> \\\"quoted\\\"\"") != std::string::npos);
  for (const std::string& svg : {utilization_svg(c, r1), capacity_svg(r1), waiting_svg(r1)}) {
    std::string why;
    INFO(svg.substr(0, 400));
    CHECK(well_formed_xml(svg, why));
    INFO(why);
    CHECK(svg.find("<svg xmlns=\"http://www.w3.org/2000/svg\"") != std::string::npos);
  }
  CHECK(utilization_svg(c, r1).find("A &lt;&amp;&gt; &quot;quoted&quot;") != std::string::npos);
  std::string why;
  CHECK_FALSE(well_formed_xml("<svg><g></svg>", why));
  CHECK_FALSE(well_formed_xml("<svg a=b/>", why));
  CHECK_FALSE(well_formed_xml("<svg>&nbsp;</svg>", why));
  std::ostringstream table;
  print_table(table, c, ctx, r1, false);
  CHECK(table.str().find("1 preemptions, 1 requeues") != std::string::npos);
}

// ---- the command ------------------------------------------------------------------------

TEST_CASE("sim: the simulate command reads files, writes the report and fails cleanly", "[sim]") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / "allot-sim-test";
  fs::remove_all(dir);
  fs::create_directories(dir);
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
    return (dir / name).string();
  };
  const std::string plan = write("plan.toml",
                                 "format_version = 1\n"
                                 "[[nodes]]\nname = \"n0\"\ngpus = 4\n"
                                 "[[scopes]]\npath = \"A\"\nkind = \"quota\"\nname = \"A\"\n"
                                 "bounds = { gpu = { guarantee = 2000, limit = 4000 } }\n"
                                 "[[scopes]]\npath = \"B\"\nkind = \"quota\"\nname = \"B\"\n"
                                 "bounds = { gpu = { guarantee = 2000, limit = 4000 } }\n");
  const std::string trace = write("t.csv", std::string(kOpenbHeader) +
                                               "p0,1,1,4,1000,,BE,Running,0,100,0\n"
                                               "p1,1,1,2,1000,,LS,Running,10,60,10\n");
  std::ostringstream out, err;
  const int rc = run_simulate_command({"simulate", "--plan", plan, "--trace", trace, "--seed", "3", "-o",
                                       (dir / "report").string(), "--progress=never"},
                                      out, err, false);
  INFO(err.str());
  CHECK(rc == 0);
  for (const char* f :
       {"report.json", "timeseries.csv", "scopes.csv", "jobs.csv", "utilization.svg", "capacity.svg", "waiting.svg"})
    CHECK(fs::exists(dir / "report" / f));
  CHECK(out.str().find("2 submitted") != std::string::npos);

  std::ostringstream out2, err2;
  CHECK(run_simulate_command({"--plan", plan, "--trace", trace, "--compare", plan, "-o", (dir / "cmp").string()}, out2,
                             err2, false) == 0);
  CHECK(fs::exists(dir / "cmp" / "comparison.json"));
  CHECK(fs::exists(dir / "cmp" / "compare" / "report.json"));
  CHECK(out2.str().find("comparison on the same trace") != std::string::npos);

  const std::string bad = write("bad.csv", std::string(kOpenbHeader) + "p0,1,1,one,1000,,BE,Running,0,100,0\n");
  std::ostringstream out3, err3;
  CHECK(run_simulate_command({"--plan", plan, "--trace", bad}, out3, err3, false) == 2);
  CHECK(err3.str().find("bad.csv:2:8: `num_gpu` must be an integer") != std::string::npos);
  std::ostringstream out4, err4;
  CHECK(run_simulate_command({"--trace", trace}, out4, err4, false) == 2);
  CHECK(err4.str().find("missing `--plan`") != std::string::npos);
  fs::remove_all(dir);
}

// ---- load mode --------------------------------------------------------------------------

namespace {

constexpr const char* kUntimedHeader = "name,cpu_milli,memory_mib,num_gpu,gpu_milli\n";

SimResult load(const Cluster& c, const std::string& pods, std::uint64_t failures) {
  const Trace t = parse_ok(std::string(kUntimedHeader) + pods);
  CHECK_FALSE(t.timed);
  SimOptions o;
  o.load = true;
  o.load_failures = failures;
  return simulate(c, resolve_ok(c, t), o);
}

}  // namespace

TEST_CASE("sim: load mode stops at the first pod the cluster cannot host", "[sim]") {
  Cluster c;
  c.nodes.push_back({"n0", 2, "A100", 0});
  c.nodes.push_back({"n1", 2, "A100", 0});
  c.scopes.push_back(quota("T", kNone, 4, std::nullopt));  // no limit: only the cluster bounds it
  c.scopes.push_back(queue("T/q", 0));
  // 0.5 GPU on one node, 2 GPUs on the other; the next 2-GPU pod finds one
  // free whole GPU per node at most and fails; the last pod never arrives.
  const std::string pods =
      "p0,1000,1024,1,500\n"
      "p1,1000,1024,2,1000\n"
      "p2,1000,1024,2,1000\n"
      "p3,1000,1024,1,500\n"
      "p4,1000,1024,1,250\n"
      "p5,1000,1024,1,1000\n";
  const SimResult r = load(c, pods, 1);
  const LoadResult& l = r.load;
  CHECK(l.enabled);
  CHECK(l.arrived == 3);
  CHECK(l.admitted == 2);
  CHECK(l.failed == 1);
  CHECK(l.failed_capacity == 1);
  CHECK_FALSE(l.trace_exhausted);
  CHECK(l.stop_name == "p2");
  CHECK(l.stop_reason == LoadFailure::capacity);
  CHECK(l.requested_milli == 4500);
  CHECK(l.allocated_milli == 2500);
  CHECK(l.unallocated_milli(r.capacity_milli) == 1500);
  // Idle: the half-used node's free whole GPU (fewer than 2 free) and the
  // 0.5 remainder: all of it fragmented for a 2-GPU request.
  CHECK(l.fragmented_milli == 1500);
  CHECK(r.jobs[0].outcome == JobOutcome::running);
  CHECK(r.jobs[1].outcome == JobOutcome::running);
  CHECK(r.jobs[2].outcome == JobOutcome::never_ran);

  // Up to two failures: p2 is withdrawn, p3 fills the 0.5 remainder, p4 takes
  // a share of the last free GPU, and p5 (1 GPU) is the second failure.
  const SimResult r2 = load(c, pods, 2);
  CHECK(r2.load.arrived == 6);
  CHECK(r2.load.admitted == 4);
  CHECK(r2.load.failed == 2);
  CHECK(r2.load.stop_name == "p5");
  CHECK(r2.load.allocated_milli == 3250);
  CHECK(r2.load.unallocated_milli(r2.capacity_milli) == 750);
  CHECK(r2.load.fragmented_milli == 750);  // the 0.75 remainder cannot host a whole GPU

  // A bound above the failures: the trace runs out; nothing is reported as fragmented.
  const SimResult r3 = load(c, pods, 10);
  CHECK(r3.load.trace_exhausted);
  CHECK(r3.load.failed == 2);
  CHECK(r3.load.allocated_milli == 3250);
  CHECK(r3.load.fragmented_milli == 0);
}

TEST_CASE("sim: load mode tells a quota stop from a full cluster", "[sim]") {
  Cluster c;
  c.nodes.push_back({"n0", 4, "A100", 0});
  c.scopes.push_back(quota("T", kNone, 2, 2));
  c.scopes.push_back(queue("T/q", 0));
  const SimResult r = load(c,
                           "p0,1000,1024,1,1000\n"
                           "p1,1000,1024,1,1000\n"
                           "p2,1000,1024,1,1000\n",
                           1);
  CHECK(r.load.admitted == 2);
  CHECK(r.load.failed_quota == 1);
  CHECK(r.load.stop_reason == LoadFailure::quota);
  CHECK(r.load.allocated_milli == 2000);
  CHECK(r.load.unallocated_milli(r.capacity_milli) == 2000);
  CHECK(r.load.fragmented_milli == 0);  // two whole GPUs free on n0: usable, but not by T
}

TEST_CASE("sim: the simulate command's load mode", "[sim]") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / "allot-sim-load-test";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string plan = (dir / "plan.toml").string();
  std::ofstream(plan) << "format_version = 1\n"
                         "[[nodes]]\nname = \"n0\"\ngpus = 2\n"
                         "[[scopes]]\npath = \"A\"\nkind = \"quota\"\nname = \"A\"\n"
                         "bounds = { gpu = { guarantee = 2000, limit = 2000 } }\n";
  const std::string trace = (dir / "pods.csv").string();
  std::ofstream(trace) << kUntimedHeader << "p0,1,1,1,600\np1,1,1,1,600\np2,1,1,1,600\np3,1,1,1,600\n";
  std::ostringstream out, err;
  CHECK(run_simulate_command({"--plan", plan, "--trace", trace}, out, err, false) == 2);
  CHECK(err.str().find("use `--load`") != std::string::npos);
  std::ostringstream out2, err2;
  const int rc = run_simulate_command({"--plan", plan, "--trace", trace, "--load", "--compare", plan, "-o",
                                       (dir / "report").string(), "--progress=never"},
                                      out2, err2, false);
  INFO(err2.str());
  CHECK(rc == 0);
  // 0.6 + 0.6 on two GPUs; the third 0.6 finds remainders of 0.4: it fails.
  CHECK(out2.str().find("1.2 allocated, 0.8 unallocated (40.00%), 0.8 fragmented (40.00%)") != std::string::npos);
  CHECK(out2.str().find("load comparison on the same trace") != std::string::npos);
  CHECK(fs::exists(dir / "report" / "load.json"));
  CHECK(fs::exists(dir / "report" / "compare" / "load.json"));
  std::ostringstream out3, err3;
  CHECK(run_simulate_command({"--plan", plan, "--trace", trace, "--load-failures", "2"}, out3, err3, false) == 2);
  fs::remove_all(dir);
}
