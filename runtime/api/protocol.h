// The local API of allotd (docs/runtime-api.md): one JSON object per line in
// each direction over a Unix domain socket. Requests are typed here; replies
// are `{"ok":true,...}` or `{"ok":false,"error":{"code":...,"message":...}}`.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "runtime/api/json.h"

namespace allot::api {

inline constexpr std::size_t kMaxRequestLine = 64 * 1024;  // bytes, newline included
inline constexpr int kProtocolVersion = 1;

// Bounds of a job's request, checked where it enters (the API, and journal
// records on replay): no sum the scheduler forms over the jobs a daemon can
// hold (kMaxActiveJobs) comes near the range of int64.
inline constexpr std::int64_t kMaxGpuMilli = 1'000'000;           // 1,000 GPUs
inline constexpr std::int64_t kMaxCpuMilli = 1'000'000'000;       // 1,000,000 CPUs
inline constexpr std::int64_t kMaxMemoryMib = 1'099'511'627'776;  // 2^40 MiB (1 EiB)
inline constexpr std::size_t kMaxActiveJobs = 100'000;            // pending, running and stopping, per daemon
inline constexpr std::size_t kMaxCommandBytes = 32 * 1024;        // argv and cwd together

struct SubmitRequest {
  std::string queue;           // scope path, or a namespace path whose `default-queue` is meant
  std::int64_t gpu_milli = 0;  // whole GPUs are multiples of 1000
  std::int64_t cpu_milli = 0;
  std::int64_t memory_mib = 0;
  std::optional<std::string> priority;  // class name; default: the queue's
  std::optional<std::string> kind;  // inference | training | development; default: the queue's only kind, else training
  std::vector<std::string> command;                      // argv, not empty
  std::string cwd;                                       // absolute; the job starts there
  std::vector<std::pair<std::string, std::string>> env;  // extra environment (PATH, ...)
};

struct PsRequest {
  bool all = false;  // include finished jobs
};

struct CancelRequest {
  std::uint64_t id = 0;
};

struct StatusRequest {};

inline constexpr std::size_t kMaxRefusalBytes = 4096;

struct ApplyRequest {
  std::string plan_path;  // absolute; read by the daemon
  // `allot apply --force`: the change was refused by the check against the
  // live state and is applied anyway; `refusal` says why it was refused
  // (logged with the caller).
  bool force = false;
  std::string refusal;
};

struct MetricsRequest {};

// The live state in the terms of docs/state.md: usage per scope, jobs per
// queue, the plan in force, the node.
struct StateRequest {};

// `allot node cordon|drain|uncordon NODE` (admins).
enum class NodeAction : std::uint8_t { cordon, drain, uncordon };
const char* to_string(NodeAction action);
struct NodeRequest {
  NodeAction action = NodeAction::cordon;
  std::string node;  // must be the daemon's node
};

// `allot explain JOB`: why a job waits, or where it runs and what it holds.
struct ExplainRequest {
  std::uint64_t id = 0;
};

using Request = std::variant<SubmitRequest, PsRequest, CancelRequest, StatusRequest, ApplyRequest, MetricsRequest,
                             StateRequest, NodeRequest, ExplainRequest>;

const char* op_name(const Request& request);

// Error codes of replies.
namespace error_code {
inline constexpr const char* bad_request = "bad_request";    // malformed JSON or fields
inline constexpr const char* unauthorized = "unauthorized";  // the caller may not do this
inline constexpr const char* unknown_queue = "unknown_queue";
inline constexpr const char* refused = "refused";  // the scheduler can never run the job as submitted
inline constexpr const char* not_found = "not_found";
inline constexpr const char* invalid_plan = "invalid_plan";
inline constexpr const char* unavailable = "unavailable";  // e.g. the journal cannot be written
}  // namespace error_code

struct ApiError {
  std::string code;
  std::string message;
};

Json encode_request(const Request& request);
std::variant<Request, ApiError> decode_request(const Json& json);
// Parses one request line (without its newline).
std::variant<Request, ApiError> parse_request_line(std::string_view line);

// Reply lines, newline terminated. `body` must be an object (or null).
std::string ok_reply(Json body);
std::string error_reply(const ApiError& error);

// Parses a decimal amount with up to three fractional digits ("2", "0.5",
// "1.25") into milli-units; nullopt if malformed or negative.
std::optional<std::int64_t> parse_milli(std::string_view text);
// Parses a memory amount: MiB by default, with an optional suffix
// Mi/MiB/Gi/GiB/Ti/TiB.
std::optional<std::int64_t> parse_memory_mib(std::string_view text);

}  // namespace allot::api
