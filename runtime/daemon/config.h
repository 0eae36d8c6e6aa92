// allotd's settings: command line flags, or an allotd.toml given with
// --config (flags given as well override the file).
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace allot::daemon {

struct DaemonConfig {
  std::string plan_path;  // required
  std::string node;       // required: the plan node this daemon runs
  std::string state_dir;  // journal, snapshots, job logs
  std::string socket_path;
  std::string socket_group;  // group owning the 0660 socket; empty: the daemon's
  std::string metrics_file;  // Prometheus text, rewritten atomically
  int metrics_port = 0;      // served on 127.0.0.1; 0: off
  std::string nvml_library = "libnvidia-ml.so.1";
  bool simulate_gpus = false;               // skip NVML even if present
  std::uint32_t snapshot_every = 1000;      // journal records between snapshots
  std::uint32_t keep_finished_jobs = 1000;  // finished jobs kept for `ps --all`
  // Client limits (docs/runtime-api.md, "Limits").
  std::int64_t idle_timeout_ms = 300'000;      // a connection with nothing in flight is closed after this
  std::int64_t request_timeout_ms = 10'000;    // a request line must be complete this long after its first byte
  std::uint32_t max_connections_per_uid = 64;  // admins (root, the daemon's user) are not counted
};

// Nothing to run: the text to print (help).
struct ConfigHelp {
  std::string text;
};
struct ConfigError {
  std::string message;
};

using ConfigResult = std::variant<DaemonConfig, ConfigHelp, ConfigError>;

// `args` excludes the program name. Fills defaults: state dir
// /var/lib/allot (root) or $XDG_STATE_HOME/allot (~/.local/state/allot);
// socket api::default_socket_path(true).
ConfigResult parse_daemon_args(const std::vector<std::string>& args);

// The help of allotd, generated from its option definitions.
std::string daemon_usage();

}  // namespace allot::daemon
