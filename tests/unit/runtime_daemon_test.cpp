// The runtime's daemon-side pieces: journal framing and recovery, CRC, the
// strict JSON parser, the API's request decoding, the plan reader and
// authorization.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <variant>

#include "runtime/api/json.h"
#include "runtime/api/protocol.h"
#include "runtime/core/plan_reader.h"
#include "runtime/daemon/auth.h"
#include "runtime/daemon/job_record.h"
#include "runtime/daemon/journal.h"

using namespace allot;

namespace {

std::string temp_dir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "allot-daemon-test-XXXXXX").string();
  REQUIRE(::mkdtemp(pattern.data()) != nullptr);
  return pattern;
}

const char* kPlan = R"(format_version = 1
allot_version = "0.1.0"
source_sha256 = "abc"

[[nodes]]
name = "n1"
pool = "p"
gpu_model = "A100-80G"
gpus = 4
interconnect = 4
cpu_milli = 32000
memory_mib = 262144

[[priorities]]
name = "inference"
value = 1000
preempts = ["training"]

[[priorities]]
name = "training"
value = 500
preempts = []

[[roles]]
name = "team-b"
users = ["bob"]
groups = ["ml"]
permissions = ["submit", "list"]

[[roles]]
name = "ops"
users = ["olga"]
groups = []
permissions = ["admin"]

[[scopes]]
path = "Q"
kind = "quota"
name = "Q"
pool = "p"
bounds = { gpu = { guarantee = 4000, limit = 4000 }, cu = { guarantee = 1 } }
roles = ["ops"]
child_preemption = true

[[scopes]]
path = "Q1"
kind = "quota"
name = "Q1"
parent = "Q"
pool = "p"
bounds = { gpu = { guarantee = 2000 } }
roles = []
child_preemption = false

[[scopes]]
path = "ws"
kind = "workspace"
name = "ws"
parent = "Q1"
bounds = {}
roles = ["team-b"]

[[scopes]]
path = "ws/ns"
kind = "namespace"
name = "ns"
parent = "ws"
bounds = {}
roles = []

[[scopes]]
path = "ws/ns/q"
kind = "queue"
name = "q"
parent = "ws/ns"
bounds = {}
roles = []
priority = "training"
preemptible = true
grace_period_ms = 1500
on_preempt = "cancel"
accepts = ["training"]
gpu_sharing = false

[placement]
method = "heuristic"

[[placement.nodes]]
name = "n1"
home = ["Q1", "Q1", "", ""]
)";

runtime::LoadedPlan load(const std::string& text) {
  runtime::PlanReadResult r = runtime::read_plan(text, "plan.toml");
  if (const auto* e = std::get_if<runtime::PlanError>(&r)) FAIL(e->to_string());
  return std::get<runtime::LoadedPlan>(std::move(r));
}

runtime::PlanError load_error(const std::string& text) {
  runtime::PlanReadResult r = runtime::read_plan(text, "plan.toml");
  REQUIRE(std::holds_alternative<runtime::PlanError>(r));
  return std::get<runtime::PlanError>(r);
}

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  const std::size_t at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

}  // namespace

// ---- CRC and journal framing ------------------------------------------------------------------

TEST_CASE("daemon: crc32 is the IEEE one") {
  CHECK(daemon::crc32("123456789") == 0xCBF43926u);
  CHECK(daemon::crc32("") == 0u);
}

TEST_CASE("daemon: framed records scan back in order") {
  const std::string bytes = daemon::frame_record("one") + daemon::frame_record("two") + daemon::frame_record("three");
  const daemon::JournalScan scan = daemon::scan_journal(bytes);
  CHECK(scan.tail == daemon::TailState::clean);
  CHECK(scan.records == std::vector<std::string>{"one", "two", "three"});
  CHECK(scan.valid_bytes == bytes.size());
}

TEST_CASE("daemon: a cut-short record is reported as truncated, not dropped silently") {
  const std::string good = daemon::frame_record("first");
  const std::string second = daemon::frame_record("second record");
  SECTION("inside the payload") {
    const daemon::JournalScan scan = daemon::scan_journal(good + second.substr(0, second.size() - 3));
    CHECK(scan.tail == daemon::TailState::truncated);
    CHECK(scan.records == std::vector<std::string>{"first"});
    CHECK(scan.valid_bytes == good.size());
    CHECK(scan.problem.find("cut short") != std::string::npos);
  }
  SECTION("inside the header") {
    const daemon::JournalScan scan = daemon::scan_journal(good + second.substr(0, 5));
    CHECK(scan.tail == daemon::TailState::truncated);
    CHECK(scan.valid_bytes == good.size());
  }
}

TEST_CASE("daemon: a flipped byte or a zero-filled region is corrupt") {
  const std::string good = daemon::frame_record("first");
  SECTION("payload byte flipped") {
    std::string bad = daemon::frame_record("second");
    bad[daemon::kRecordHeaderBytes + 2] ^= 0x20;
    const daemon::JournalScan scan = daemon::scan_journal(good + bad + daemon::frame_record("third"));
    CHECK(scan.tail == daemon::TailState::corrupt);
    CHECK(scan.records.size() == 1);
    CHECK(scan.problem.find("CRC") != std::string::npos);
  }
  SECTION("zeros (a preallocated, never written region)") {
    const daemon::JournalScan scan = daemon::scan_journal(good + std::string(64, '\0'));
    CHECK(scan.tail == daemon::TailState::corrupt);
    CHECK(scan.valid_bytes == good.size());
  }
  SECTION("impossible length") {
    std::string huge = good;
    huge += std::string("\xff\xff\xff\x7f", 4) + std::string(4, '\0');
    CHECK(daemon::scan_journal(huge).tail == daemon::TailState::corrupt);
  }
}

TEST_CASE("daemon: recovery preserves a bad tail in a side file and keeps the valid prefix") {
  const std::string dir = temp_dir();
  const std::string path = dir + "/journal-0.log";
  std::string error;
  {
    daemon::JournalWriter w;
    REQUIRE(w.open(path, error));
    REQUIRE(w.append("alpha", error));
    REQUIRE(w.append("beta", error));
    REQUIRE(w.sync(error));
  }
  const std::string garbage("\x10\x00\x00\x00garbage", 11);  // a length of 16, 7 bytes of it
  {
    FILE* f = std::fopen(path.c_str(), "ab");
    std::fwrite(garbage.data(), 1, garbage.size(), f);
    std::fclose(f);
  }
  const std::optional<daemon::JournalRecovery> r = daemon::recover_journal(path, error);
  REQUIRE(r);
  CHECK(r->scan.records == std::vector<std::string>{"alpha", "beta"});
  CHECK(r->scan.tail == daemon::TailState::truncated);
  CHECK(r->bad_bytes == garbage.size());
  REQUIRE(!r->side_file.empty());
  CHECK(daemon::read_file(r->side_file, error) == garbage);
  // The journal now ends after the valid prefix: appends follow it.
  {
    daemon::JournalWriter w;
    REQUIRE(w.open(path, error));
    REQUIRE(w.append("gamma", error));
    REQUIRE(w.sync(error));
  }
  const std::optional<daemon::JournalRecovery> again = daemon::recover_journal(path, error);
  REQUIRE(again);
  CHECK(again->scan.tail == daemon::TailState::clean);
  CHECK(again->scan.records == std::vector<std::string>{"alpha", "beta", "gamma"});
  std::filesystem::remove_all(dir);
}

TEST_CASE("daemon: atomic writes replace the whole file") {
  const std::string dir = temp_dir();
  std::string error;
  REQUIRE(daemon::write_file_atomic(dir + "/f", "one", error));
  REQUIRE(daemon::write_file_atomic(dir + "/f", "two", error));
  CHECK(daemon::read_file(dir + "/f", error) == "two");
  CHECK(!std::filesystem::exists(dir + "/f.tmp"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("daemon: job records survive a JSON round trip") {
  daemon::JobRecord r;
  r.id = 42;
  r.queue = "ws/ns/q";
  r.user = "bob";
  r.uid = 1000;
  r.gid = 1000;
  r.groups = {"ml"};
  r.kind = "training";
  r.priority = "training";
  r.request = {2000, 500, 1024};
  r.command = {"sh", "-c", "echo \"hi\"\n"};
  r.cwd = "/tmp";
  r.env = {{"PATH", "/bin"}};
  r.phase = daemon::JobPhase::stopping;
  r.stop_intent = daemon::StopIntent::preempt;
  r.gpus = {{0, 1000}, {3, 1000}};
  r.pid = 1234;
  r.start_ticks = 987654321;
  r.kill_at = 1764590000123;
  r.exit_code = 3;
  std::string error;
  api::JsonParseResult parsed = api::parse_json(r.to_json().dump());
  REQUIRE(std::holds_alternative<api::Json>(parsed));
  const std::optional<daemon::JobRecord> back = daemon::job_from_json(std::get<api::Json>(parsed), error);
  REQUIRE(back);
  CHECK(back->to_json().dump() == r.to_json().dump());
  CHECK(back->kill_at == r.kill_at);
}

// ---- protocol -----------------------------------------------------------------------------------

TEST_CASE("protocol: requests round trip and bad ones are refused with bad_request") {
  api::SubmitRequest s;
  s.queue = "ws/ns/q";
  s.gpu_milli = 2000;
  s.command = {"sh", "-c", "true"};
  s.cwd = "/tmp";
  s.priority = "training";
  const auto back = api::parse_request_line(api::encode_request(s).dump());
  REQUIRE(std::holds_alternative<api::Request>(back));
  const auto* got = std::get_if<api::SubmitRequest>(&std::get<api::Request>(back));
  REQUIRE(got);
  CHECK(got->queue == "ws/ns/q");
  CHECK(got->gpu_milli == 2000);
  CHECK(got->command.size() == 3);
  CHECK(got->priority == "training");

  for (const api::NodeAction action : {api::NodeAction::cordon, api::NodeAction::drain, api::NodeAction::uncordon}) {
    const auto node = api::parse_request_line(api::encode_request(api::NodeRequest{action, "n1"}).dump());
    REQUIRE(std::holds_alternative<api::Request>(node));
    const auto* n = std::get_if<api::NodeRequest>(&std::get<api::Request>(node));
    REQUIRE(n);
    CHECK(n->action == action);
    CHECK(n->node == "n1");
  }
  const auto explain = api::parse_request_line(R"({"op":"explain","id":7})");
  REQUIRE(std::holds_alternative<api::Request>(explain));
  REQUIRE(std::get_if<api::ExplainRequest>(&std::get<api::Request>(explain)));
  CHECK(std::get<api::ExplainRequest>(std::get<api::Request>(explain)).id == 7);

  const char* bad[] = {
      R"({"op":"node","action":"evict","node":"n1"})",
      R"({"op":"node","action":"drain"})",
      R"({"op":"node","action":"drain","node":""})",
      R"({"op":"explain","id":0})",
      "[]",
      "{}",
      R"({"op":"launch"})",
      R"({"op":"submit","queue":"q","command":[],"cwd":"/"})",
      R"({"op":"submit","queue":"q","command":["x"],"cwd":"relative"})",
      R"({"op":"submit","queue":"q","command":["x"],"cwd":"/","gpu_milli":-1})",
      R"({"op":"submit","queue":"q","command":["x"],"cwd":"/","gpu_milli":"2"})",
      R"({"op":"submit","queue":"q","command":["x"],"cwd":"/","env":{"A=B":"c"}})",
      R"({"op":"submit","queue":"q","command":["x"],"cwd":"/","surprise":1})",
      R"({"op":"cancel","id":0})",
      R"({"op":"cancel","id":"7"})",
      R"({"op":"apply","plan_path":"plan.toml"})",
      R"({"op":"ps","all":"yes"})",
      R"({"op":"apply","plan_path":"/p.toml","refusal":"E0221"})",
      R"({"op":"apply","plan_path":"/p.toml","force":"yes"})",
      R"({"op":"state","all":true})",
      "not json",
  };
  for (const char* line : bad) {
    INFO(line);
    const auto r = api::parse_request_line(line);
    REQUIRE(std::holds_alternative<api::ApiError>(r));
    CHECK(std::get<api::ApiError>(r).code == api::error_code::bad_request);
  }
  CHECK(std::holds_alternative<api::ApiError>(api::parse_request_line(std::string(api::kMaxRequestLine, ' '))));
}

TEST_CASE("protocol: state and a forced apply round trip") {
  const auto state = api::parse_request_line(R"({"op":"state"})");
  REQUIRE(std::holds_alternative<api::Request>(state));
  CHECK(std::holds_alternative<api::StateRequest>(std::get<api::Request>(state)));
  api::ApplyRequest forced;
  forced.plan_path = "/tmp/p.toml";
  forced.force = true;
  forced.refusal = "E0221: the change deletes queue `w/ns/batch`";
  const auto back = api::parse_request_line(api::encode_request(forced).dump());
  REQUIRE(std::holds_alternative<api::Request>(back));
  const auto* got = std::get_if<api::ApplyRequest>(&std::get<api::Request>(back));
  REQUIRE(got);
  CHECK(got->force);
  CHECK(got->refusal == forced.refusal);
  const std::string long_refusal = R"({"op":"apply","plan_path":"/p.toml","force":true,"refusal":")" +
                                   std::string(api::kMaxRefusalBytes + 1, 'x') + "\"}";
  CHECK(std::holds_alternative<api::ApiError>(api::parse_request_line(long_refusal)));
}

TEST_CASE("protocol: amounts parse exactly") {
  CHECK(api::parse_milli("2") == 2000);
  CHECK(api::parse_milli("0.5") == 500);
  CHECK(api::parse_milli("1.25") == 1250);
  CHECK(!api::parse_milli("0.0005"));
  CHECK(!api::parse_milli("-1"));
  CHECK(!api::parse_milli("1."));
  CHECK(!api::parse_milli("x"));
  CHECK(api::parse_memory_mib("512") == 512);
  CHECK(api::parse_memory_mib("16GiB") == 16384);
  CHECK(!api::parse_memory_mib("16GB"));
}

// ---- plan reader --------------------------------------------------------------------------------

TEST_CASE("plan reader: a valid plan becomes a cluster") {
  const runtime::LoadedPlan p = load(kPlan);
  CHECK(p.metadata.format_version == 1);
  CHECK(p.metadata.source_sha256 == "abc");
  REQUIRE(p.cluster.nodes.size() == 1);
  CHECK(p.cluster.nodes[0].gpu_count == 4);
  CHECK(p.cluster.nodes[0].interconnect_domain_size == 0);  // one domain: the whole node
  CHECK(p.nodes[0].pool == "p");
  REQUIRE(p.cluster.scopes.size() == 5);
  const runtime::ScopeId q = runtime::find_scope(p.cluster, "ws/ns/q");
  REQUIRE(q == 4);
  const runtime::Scope& queue = p.cluster.scopes[q];
  CHECK(queue.kind == runtime::ScopeKind::queue);
  CHECK(queue.parent == 3);
  CHECK(queue.queue.grace_period_ms == 1500);
  CHECK(queue.queue.on_preempt == runtime::OnPreempt::cancel);
  CHECK(queue.queue.accepts == static_cast<runtime::WorkloadSet>(runtime::WorkloadKind::training));
  CHECK(queue.queue.default_priority == 1);
  // Roles of the queue's ancestors are inherited: team-b (ws) and ops (Q).
  CHECK(queue.queue.grants.size() == 2);
  CHECK(p.cluster.scopes[0].bounds.gpu->guarantee == 4000);
  CHECK(p.cluster.scopes[0].bounds.gpu->limit == 4000);
  CHECK(!p.cluster.scopes[1].bounds.gpu->limit);  // inherits
  CHECK(p.cluster.scopes[0].child_preemption);
  CHECK(p.cluster.priorities[0].preempts == std::vector<runtime::PriorityId>{1});
  REQUIRE(p.cluster.placement.size() == 2);
  CHECK(p.cluster.placement[1].gpu.index == 1);
  CHECK(p.cluster.placement[1].home == 1);
  const runtime::Cluster only = runtime::restrict_to_nodes(p, {"n1"});
  CHECK(only.nodes.size() == 1);
  CHECK(only.placement.size() == 2);
  CHECK(runtime::restrict_to_nodes(p, {"other"}).placement.empty());
}

TEST_CASE("plan reader: a pool's status reaches its nodes") {
  CHECK(load(kPlan).nodes[0].pool_status == "running");
  const std::string pools = std::string(kPlan) + "\n[[pools]]\nname = \"p\"\nstatus = \"creating\"\n";
  CHECK(load(pools).nodes[0].pool_status == "creating");
  const runtime::PlanError e = load_error(std::string(kPlan) + "\n[[pools]]\nname = \"p\"\nstatus = \"sleeping\"\n");
  CHECK(e.message.find("unknown pool status `sleeping`") != std::string::npos);
  CHECK(e.line > 0);
}

TEST_CASE("plan reader: invalid plans are located errors") {
  SECTION("TOML syntax") {
    const runtime::PlanError e = load_error("format_version = \n");
    CHECK(e.line == 1);
    CHECK(e.to_string().rfind("plan.toml:1:", 0) == 0);
  }
  SECTION("format version") {
    CHECK(load_error(replaced(kPlan, "format_version = 1", "format_version = 9")).message.find("unsupported") !=
          std::string::npos);
  }
  SECTION("parent after child") {
    const runtime::PlanError e = load_error(replaced(kPlan, "parent = \"Q\"", "parent = \"ws\""));
    CHECK(e.message.find("not listed before") != std::string::npos);
    CHECK(e.line > 0);
  }
  SECTION("unknown priority") {
    CHECK(load_error(replaced(kPlan, "priority = \"training\"", "priority = \"batch\"")).message.find("batch") !=
          std::string::npos);
  }
  SECTION("unknown role") {
    CHECK(load_error(replaced(kPlan, "roles = [\"team-b\"]", "roles = [\"team-z\"]")).message.find("team-z") !=
          std::string::npos);
  }
  SECTION("wrong type") {
    const runtime::PlanError e = load_error(replaced(kPlan, "gpus = 4", "gpus = \"4\""));
    CHECK(e.message.find("integer") != std::string::npos);
    CHECK(e.line == 9);
  }
  SECTION("placement on an unknown node or scope") {
    CHECK(load_error(replaced(kPlan, "name = \"n1\"\nhome", "name = \"n2\"\nhome")).message.find("n2") !=
          std::string::npos);
    CHECK(load_error(replaced(kPlan, "home = [\"Q1\"", "home = [\"Q9\"")).message.find("Q9") != std::string::npos);
  }
  SECTION("too many GPUs in a placement") {
    CHECK(load_error(replaced(kPlan, "\"Q1\", \"Q1\", \"\", \"\"]", "\"Q1\", \"Q1\", \"\", \"\", \"\"]"))
              .message.find("more GPUs") != std::string::npos);
  }
  SECTION("limit below guarantee") {
    CHECK(load_error(replaced(kPlan, "guarantee = 4000, limit = 4000", "guarantee = 4000, limit = 3000"))
              .message.find("limit below") != std::string::npos);
  }
}

// ---- authorization ------------------------------------------------------------------------------

TEST_CASE("authorization: roles decide who may do what on a queue") {
  const runtime::LoadedPlan p = load(kPlan);
  const runtime::Scope& queue = p.cluster.scopes[runtime::find_scope(p.cluster, "ws/ns/q")];
  daemon::Identity bob{1000, 1000, 0, "bob", {"bob"}, false};
  daemon::Identity ml_member{1001, 1001, 0, "mia", {"mia", "ml"}, false};
  daemon::Identity mallory{1002, 1002, 0, "mallory", {"mallory"}, false};
  daemon::Identity olga{1003, 1003, 0, "olga", {}, false};
  daemon::Identity root{0, 0, 0, "root", {"root"}, true};
  CHECK(daemon::authorized(queue, bob, runtime::kSubmit));
  CHECK(daemon::authorized(queue, bob, runtime::kList));
  CHECK(!daemon::authorized(queue, bob, runtime::kCancel));  // team-b has no cancel
  CHECK(daemon::authorized(queue, ml_member, runtime::kSubmit));
  CHECK(!daemon::authorized(queue, mallory, runtime::kSubmit));
  CHECK(!daemon::authorized(queue, mallory, runtime::kList));
  CHECK(daemon::authorized(queue, olga, runtime::kCancel));  // admin permission, inherited from Q
  CHECK(daemon::authorized(queue, root, runtime::kCancel));
  runtime::Scope open = queue;
  open.queue.grants.clear();
  CHECK(daemon::authorized(open, mallory, runtime::kSubmit));  // no roles: open to everyone
}

TEST_CASE("authorization: a uid resolves to its name and groups") {
  const daemon::Identity me = daemon::identity_of_uid(::geteuid(), ::geteuid());
  CHECK(me.admin);
  CHECK(!me.user.empty());
  const daemon::Identity unknown = daemon::identity_of_uid(4000000000u, ::geteuid());
  CHECK(unknown.user == "uid:4000000000");
  CHECK(!unknown.admin);
}
