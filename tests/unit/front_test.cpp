// The small `allot` (runtime/api/front.h) answers a command line itself only
// when the full command line (compiler/driver/cli.h) reads it as the same
// client command; every other line goes to the compiler binary.
#include "runtime/api/front.h"

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "compiler/driver/cli.h"

using namespace allot;

namespace {

using Args = std::vector<std::string>;

// The full command line's reading, when it is a client command.
std::optional<api::ClientOptions> full_reading(const Args& args) {
  const auto command = driver::parse_command_line(args);
  if (!command) return std::nullopt;
  if (const auto* o = std::get_if<api::ClientOptions>(&*command)) return *o;
  return std::nullopt;
}

}  // namespace

TEST_CASE("front: client commands are answered locally, as the full command line reads them") {
  const std::vector<Args> local = {
      {"submit", "--queue", "ws/ns", "--gpus", "1", "--", "true"},
      {"submit", "--queue=ws/ns", "--gpus=0.5", "--cpu", "2", "--memory", "16GiB", "python", "train.py", "--lr", "1"},
      {"submit", "--queue", "ws/ns", "--priority", "high", "--kind", "training", "--json", "--", "sh", "-c", "x"},
      {"ps"},
      {"ps", "--all", "--socket", "/tmp/s.sock"},
      {"status", "--json"},
      {"metrics"},
      {"cancel", "7"},
      {"explain", "7"},
      {"node", "drain", "n1", "--no-wait"},
  };
  for (const Args& args : local) {
    INFO(args[0] << " with " << args.size() << " words");
    const std::optional<api::ClientOptions> here = api::local_client_command(args);
    const std::optional<api::ClientOptions> full = full_reading(args);
    REQUIRE(here);
    REQUIRE(full);
    CHECK(here->command == full->command);
    CHECK(here->arguments == full->arguments);
    CHECK(here->queue == full->queue);
    CHECK(here->socket == full->socket);
    CHECK(here->json == full->json);
    CHECK(here->all == full->all);
    CHECK(here->no_wait == full->no_wait);
    CHECK(here->gpu_milli == full->gpu_milli);
    CHECK(here->cpu_milli == full->cpu_milli);
    CHECK(here->memory_mib == full->memory_mib);
    CHECK(here->priority == full->priority);
    CHECK(here->kind == full->kind);
  }
}

TEST_CASE("front: everything else goes to the compiler") {
  const std::vector<Args> elsewhere = {
      {},
      {"check", "policy.allot"},
      {"help", "submit"},
      {"--version"},
      {"completion", "bash"},
      {"submit", "--help"},
      {"ps", "-h"},
      {"submit", "--backend", "slurm", "--queue", "ws/ns", "--gpus", "1", "--", "true"},
      {"submit", "--queue", "ws/ns", "--dry-run", "--", "true"},
      {"submit", "--gpus", "1", "--", "true"},  // no queue: the compiler's usage error
      {"submit", "--queue", "ws/ns", "--gpus", "x", "--", "true"},
      {"ps", "--bogus"},
      {"cancel"},
      {"cancel", "7x"},
      {"explain", "E0211"},
      {"explain", "7", "8"},
      {"apply", "plan.toml"},
      {"state", "-o", "state.toml"},
      {"node", "reboot", "n1"},
      {"unknown"},
  };
  for (const Args& args : elsewhere) {
    INFO((args.empty() ? std::string("(nothing)") : args[0]) << " with " << args.size() << " words");
    CHECK_FALSE(api::local_client_command(args));
  }
}

TEST_CASE("front: the compiler binary is found beside allot, else in libexec/allot") {
  const std::filesystem::path root =
      std::filesystem::temp_directory_path() / ("allot-front-" + std::to_string(::getpid()));
  std::filesystem::create_directories(root / "bin");
  std::filesystem::create_directories(root / "libexec/allot");
  const auto make_executable = [](const std::filesystem::path& p) {
    std::ofstream(p) << "#!/bin/sh\n";
    ::chmod(p.c_str(), 0755);
  };
  const std::string bin = (root / "bin").string();
  CHECK_FALSE(api::find_compiler(bin, "../libexec/allot"));
  make_executable(root / "libexec/allot/allot-compiler");
  CHECK(api::find_compiler(bin, "../libexec/allot") == bin + "/../libexec/allot/allot-compiler");
  make_executable(root / "bin/allot-compiler");
  CHECK(api::find_compiler(bin, "../libexec/allot") == bin + "/allot-compiler");
  std::filesystem::remove_all(root);
}
