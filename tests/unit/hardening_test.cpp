// Regression tests of the hardening defects (docs/reliability.md): bounded
// inputs at every boundary, the start gate, exact GPU model matching,
// escaped control characters and bounded reads.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <thread>
#include <variant>

#include "compiler/emit/diagnostics.h"
#include "compiler/syntax/parser.h"
#include "runtime/api/json.h"
#include "runtime/api/protocol.h"
#include "runtime/core/plan_reader.h"
#include "runtime/daemon/job_record.h"
#include "runtime/daemon/nvml.h"
#include "runtime/daemon/process.h"

using namespace allot;

namespace {

std::string temp_dir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "allot-hardening-test-XXXXXX").string();
  REQUIRE(::mkdtemp(pattern.data()) != nullptr);
  return pattern;
}

std::string error_of(std::string_view line) {
  const std::variant<api::Request, api::ApiError> r = api::parse_request_line(line);
  if (const auto* e = std::get_if<api::ApiError>(&r)) return e->code + ": " + e->message;
  return "";
}

const char* kSubmitPrefix = R"({"op":"submit","queue":"q","gpu_milli":1000,"cwd":"/tmp","command":["true"])";

std::string submit_with(const std::string& extra) {
  std::string line = kSubmitPrefix;
  line.pop_back();
  return line + "]," + extra + "}";
}

const char* kPlan = R"(format_version = 1

[[nodes]]
name = "n1"
pool = "p"
gpus = 2
cpu_milli = 32000
memory_mib = 1024

[[priorities]]
name = "training"
value = 500

[[scopes]]
path = "Q"
kind = "quota"
name = "Q"
pool = "p"
bounds = { gpu = { guarantee = 2000, limit = 2000 } }

[[scopes]]
path = "Q/q"
kind = "queue"
name = "q"
parent = "Q"
grace_period_ms = 1500
)";

std::string plan_error(const std::string& from, const std::string& to) {
  std::string text = kPlan;
  const std::size_t at = text.find(from);
  REQUIRE(at != std::string::npos);
  text.replace(at, from.size(), to);
  const runtime::PlanReadResult r = runtime::read_plan(text, "plan.toml");
  if (const auto* e = std::get_if<runtime::PlanError>(&r)) return e->message;
  return "";
}

bool exists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::exists(path, ec);
}

// Waits (bounded) for `pid`, a child of this process; its wait status.
std::optional<int> wait_child(pid_t pid, int timeout_ms) {
  for (int waited = 0; waited < timeout_ms; waited += 10) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) return status;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return std::nullopt;
}

}  // namespace

TEST_CASE("hardening: Json(uint64_t) never wraps to a negative number") {
  const std::uint64_t big = std::numeric_limits<std::uint64_t>::max();
  const api::Json j(big);
  CHECK(!j.as_int());  // not representable as int64: no integer at all, rather than a wrong one
  REQUIRE(j.as_number());
  CHECK(*j.as_number() > 1.8e19);
  CHECK(j.dump().find('-') == std::string::npos);
  const std::uint64_t edge = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  REQUIRE(api::Json(edge).as_int());
  CHECK(*api::Json(edge).as_int() == std::numeric_limits<std::int64_t>::max());
  CHECK(api::Json(edge + 1).dump().find('-') == std::string::npos);
}

TEST_CASE("hardening: JSON dumps read back to the same dump (found by fuzz_api: -0.0)") {
  for (const char* text : {"[1,-0.0]", "-0", "0.0", "1e300", "-1.5e-7", "[9223372036854775807,-9223372036854775808]"}) {
    const api::JsonParseResult once = api::parse_json(text);
    REQUIRE(std::holds_alternative<api::Json>(once));
    const std::string dumped = std::get<api::Json>(once).dump();
    const api::JsonParseResult again = api::parse_json(dumped);
    REQUIRE(std::holds_alternative<api::Json>(again));
    CHECK(std::get<api::Json>(again).dump() == dumped);
  }
}

TEST_CASE("hardening: request amounts are bounded at the API") {
  CHECK(error_of(submit_with(R"("cpu_milli":9223372036854775000)")).rfind("bad_request: field `cpu_milli`", 0) == 0);
  CHECK(error_of(submit_with(R"("memory_mib":9223372036854775807)")).rfind("bad_request: field `memory_mib`", 0) == 0);
  CHECK(error_of(submit_with(R"("cpu_milli":1e300)")).rfind("bad_request", 0) == 0);
  CHECK(error_of(R"({"op":"submit","queue":"q","gpu_milli":1000000001,"cwd":"/tmp","command":["true"]})")
            .rfind("bad_request: field `gpu_milli`", 0) == 0);
  CHECK(error_of(submit_with(R"("cpu_milli":1000000000)")).empty());  // the bound itself is admitted
}

TEST_CASE("hardening: a NUL in command, cwd or env is refused, not cut at exec") {
  CHECK(error_of(R"({"op":"submit","queue":"q","cwd":"/tmp","command":["rm\u0000-rf"]})").find("NUL") !=
        std::string::npos);
  CHECK(error_of(R"({"op":"submit","queue":"q","cwd":"/tmp\u0000/x","command":["true"]})").find("NUL") !=
        std::string::npos);
  CHECK(error_of(submit_with(R"("env":{"A":"x\u0000y"})")).find("NUL") != std::string::npos);
  CHECK(error_of(R"({"op":"submit","queue":"q","cwd":"/tmp","command":["a b"]})").empty());
}

TEST_CASE("hardening: journal records with amounts beyond the API's bounds are refused on replay") {
  daemon::JobRecord rec;
  rec.id = 7;
  rec.queue = "Q/q";
  rec.user = "u";
  rec.kind = "training";
  rec.command = {"true"};
  rec.cwd = "/";
  rec.request.cpu_milli = 9223372036854775000;
  std::string error;
  CHECK(!daemon::job_from_json(rec.to_json(), error));
  CHECK(error.find("out of range") != std::string::npos);
  rec.request.cpu_milli = 1000;
  rec.starting = true;
  const std::optional<daemon::JobRecord> back = daemon::job_from_json(rec.to_json(), error);
  REQUIRE(back);
  CHECK(back->starting);
}

TEST_CASE("hardening: the plan reader bounds every quantity") {
  CHECK(plan_error("", "").empty());
  CHECK(plan_error("grace_period_ms = 1500", "grace_period_ms = 9223372036854775807").find("grace_period_ms") !=
        std::string::npos);
  CHECK(plan_error("grace_period_ms = 1500", "grace_period_ms = 86400001").find("between 0 and 86400000") !=
        std::string::npos);
  CHECK(!plan_error("cpu_milli = 32000", "cpu_milli = 9223372036854775807").empty());
  CHECK(!plan_error("memory_mib = 1024", "memory_mib = -1").empty());
  CHECK(!plan_error("value = 500", "value = -9223372036854775808").empty());
  CHECK(!plan_error("limit = 2000", "limit = 9223372036854775807").empty());
}

TEST_CASE("hardening: GPU models match whole tokens, not substrings") {
  CHECK(daemon::gpu_model_matches("NVIDIA A100-SXM4-80GB", "A100-80G"));
  CHECK(daemon::gpu_model_matches("NVIDIA A10", "A10"));
  CHECK(!daemon::gpu_model_matches("NVIDIA A100-SXM4-80GB", "A10"));
  CHECK(!daemon::gpu_model_matches("NVIDIA H100 80GB HBM3", "H10"));
  CHECK(!daemon::gpu_model_matches("NVIDIA A100-SXM4-40GB", "A100-80G"));
}

TEST_CASE("hardening: a job's process runs only once its start gate is opened") {
  const std::string dir = temp_dir();
  const std::string marker = dir + "/ran";
  daemon::SpawnSpec spec;
  spec.argv = {"/bin/sh", "-c", "echo ran >> " + marker};
  spec.env = {"PATH=/usr/bin:/bin"};
  spec.cwd = dir;
  spec.log_path = dir + "/job.log";

  SECTION("opened: it runs") {
    auto spawned = daemon::spawn_job(spec);
    REQUIRE(std::holds_alternative<daemon::Spawned>(spawned));
    const daemon::Spawned s = std::get<daemon::Spawned>(spawned);
    REQUIRE(s.release_fd >= 0);
    // Held at the gate: recognisable, and it has not run.
    bool at_gate = false;
    for (int i = 0; i < 200 && !at_gate; ++i) {
      at_gate = daemon::waits_at_gate(s.pid);
      if (!at_gate) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    CHECK(at_gate);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    CHECK(!exists(marker));
    CHECK(daemon::release_job(s.release_fd));
    const std::optional<int> status = wait_child(s.pid, 10000);
    REQUIRE(status);
    CHECK(WIFEXITED(*status));
    CHECK(WEXITSTATUS(*status) == 0);
    CHECK(exists(marker));
  }
  SECTION("closed unopened (the daemon died): it never runs") {
    auto spawned = daemon::spawn_job(spec);
    REQUIRE(std::holds_alternative<daemon::Spawned>(spawned));
    const daemon::Spawned s = std::get<daemon::Spawned>(spawned);
    daemon::abandon_job(s.release_fd);
    const std::optional<int> status = wait_child(s.pid, 10000);
    REQUIRE(status);
    CHECK(WIFEXITED(*status));
    CHECK(WEXITSTATUS(*status) == 126);
    CHECK(!exists(marker));
    std::ifstream log(dir + "/job.log");
    std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
    CHECK(text.find("job not started") != std::string::npos);
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("hardening: policy files are read bounded, and only regular ones") {
  const std::string dir = temp_dir();
  std::string text;
  SECTION("a device is refused at once") {
    const syntax::ReadOutcome r = syntax::read_source_file("/dev/zero", 1 << 20, text);
    CHECK(!r.ok);
    CHECK(r.problem == "not a regular file");
  }
  SECTION("a FIFO is refused without waiting for a writer") {
    const std::string fifo = dir + "/fifo";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    const auto start = std::chrono::steady_clock::now();
    const syntax::ReadOutcome r = syntax::read_source_file(fifo, 1 << 20, text);
    CHECK(!r.ok);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(2));
  }
  SECTION("a file over the limit is refused after reading one byte more than the limit") {
    std::ofstream(dir + "/big.allot") << std::string(1000, 'x');
    const syntax::ReadOutcome r = syntax::read_source_file(dir + "/big.allot", 100, text);
    CHECK(!r.ok);
    CHECK(r.too_large);
    const syntax::ReadOutcome fits = syntax::read_source_file(dir + "/big.allot", 1000, text);
    CHECK(fits.ok);
    CHECK(text.size() == 1000);
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("hardening: imports stay below the policy's directory unless widened") {
  const std::string dir = temp_dir();
  std::filesystem::create_directories(dir + "/policy");
  std::filesystem::create_directories(dir + "/shared");
  std::ofstream(dir + "/shared/pools.allot") << "pool p { type = shared }\n";
  std::ofstream(dir + "/policy/main.allot") << "import \"../shared/pools.allot\"\n";
  // A symbolic link inside the tree does not lead out of it either.
  std::filesystem::create_symlink(dir + "/shared/pools.allot", dir + "/policy/link.allot");
  std::ofstream(dir + "/policy/via-link.allot") << "import \"link.allot\"\n";
  auto codes = [&](const std::string& file, const syntax::ImportPolicy& imports) {
    SourceManager sources;
    DiagnosticSink sink;
    syntax::load(sources, {file}, sink, syntax::ParseLimits{}, imports);
    std::string out;
    for (const Diagnostic& d : sink.diagnostics()) out += d.code + " ";
    return out;
  };
  CHECK(codes(dir + "/policy/main.allot", {}) == "E0012 ");
  CHECK(codes(dir + "/policy/via-link.allot", {}) == "E0012 ");
  CHECK(codes(dir + "/policy/main.allot", syntax::ImportPolicy{{}, {dir + "/shared"}}).empty());
  CHECK(codes(dir + "/policy/main.allot", syntax::ImportPolicy{{dir}, {}}).empty());
  std::filesystem::remove_all(dir);
}

TEST_CASE("hardening: control characters are escaped for the terminal") {
  CHECK(emit::escape_controls(std::string("a\0b", 3)) == "a\\x00b");
  CHECK(emit::escape_controls("\x1b[31mred") == "\\x1b[31mred");
  CHECK(emit::escape_controls("\xc2\x9b"
                              "2J") == "\\u{9b}2J");
  CHECK(emit::escape_controls("caf\xc3\xa9") == "caf\xc3\xa9");  // UTF-8 text stays
  CHECK(emit::escape_controls("\xff") == "\\xff");
}
