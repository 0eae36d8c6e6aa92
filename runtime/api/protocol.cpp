#include "runtime/api/protocol.h"

#include <charconv>

namespace allot::api {

const char* op_name(const Request& request) {
  static constexpr const char* kNames[] = {"submit",  "ps",    "cancel", "status", "apply",
                                           "metrics", "state", "node",   "explain"};
  return kNames[request.index()];
}

const char* to_string(NodeAction action) {
  switch (action) {
    case NodeAction::cordon:
      return "cordon";
    case NodeAction::drain:
      return "drain";
    case NodeAction::uncordon:
      return "uncordon";
  }
  return "cordon";
}

Json encode_request(const Request& request) {
  Json j;
  j.set("op", op_name(request));
  std::visit(
      [&j](const auto& r) {
        using T = std::decay_t<decltype(r)>;
        if constexpr (std::is_same_v<T, SubmitRequest>) {
          j.set("queue", r.queue);
          j.set("gpu_milli", r.gpu_milli);
          if (r.cpu_milli) j.set("cpu_milli", r.cpu_milli);
          if (r.memory_mib) j.set("memory_mib", r.memory_mib);
          if (r.priority) j.set("priority", *r.priority);
          if (r.kind) j.set("kind", *r.kind);
          JsonArray command;
          for (const std::string& a : r.command) command.emplace_back(a);
          j.set("command", std::move(command));
          j.set("cwd", r.cwd);
          JsonObject env;
          for (const auto& [k, v] : r.env) env.emplace_back(k, Json(v));
          if (!env.empty()) j.set("env", std::move(env));
        } else if constexpr (std::is_same_v<T, PsRequest>) {
          if (r.all) j.set("all", true);
        } else if constexpr (std::is_same_v<T, CancelRequest>) {
          j.set("id", r.id);
        } else if constexpr (std::is_same_v<T, ApplyRequest>) {
          j.set("plan_path", r.plan_path);
          if (r.force) j.set("force", true);
          if (!r.refusal.empty()) j.set("refusal", r.refusal);
        } else if constexpr (std::is_same_v<T, NodeRequest>) {
          j.set("action", to_string(r.action));
          j.set("node", r.node);
        } else if constexpr (std::is_same_v<T, ExplainRequest>) {
          j.set("id", r.id);
        }
      },
      request);
  return j;
}

namespace {

ApiError bad(std::string message) { return ApiError{error_code::bad_request, std::move(message)}; }

// Field readers: an absent optional field keeps its default; a present one
// of the wrong type is an error.
struct Fields {
  const Json& json;
  std::optional<ApiError> error;

  void check_known(std::initializer_list<std::string_view> known) {
    for (const auto& [key, value] : *json.as_object()) {
      bool ok = false;
      for (std::string_view k : known) ok = ok || k == key;
      if (!ok && !error) error = bad("unknown field `" + key + "`");
    }
  }
  std::optional<std::string> string(std::string_view key, bool required) {
    const Json* v = json.find(key);
    if (!v) {
      if (required && !error) error = bad("missing field `" + std::string(key) + "`");
      return std::nullopt;
    }
    if (!v->as_string()) {
      if (!error) error = bad("field `" + std::string(key) + "` must be a string");
      return std::nullopt;
    }
    return *v->as_string();
  }
  std::int64_t amount(std::string_view key, std::int64_t max) {
    const Json* v = json.find(key);
    if (!v) return 0;
    const std::optional<std::int64_t> i = v->as_int();
    if (!i || *i < 0 || *i > max) {
      if (!error) error = bad("field `" + std::string(key) + "` must be an integer from 0 to " + std::to_string(max));
      return 0;
    }
    return *i;
  }
  bool flag(std::string_view key) {
    const Json* v = json.find(key);
    if (!v) return false;
    if (!v->as_bool()) {
      if (!error) error = bad("field `" + std::string(key) + "` must be true or false");
      return false;
    }
    return *v->as_bool();
  }
};

}  // namespace

std::variant<Request, ApiError> decode_request(const Json& json) {
  if (!json.as_object()) return bad("a request must be a JSON object");
  Fields f{json, std::nullopt};
  const std::optional<std::string> op = f.string("op", true);
  if (f.error) return *f.error;
  Request request;
  if (*op == "submit") {
    f.check_known({"op", "queue", "gpu_milli", "cpu_milli", "memory_mib", "priority", "kind", "command", "cwd", "env"});
    SubmitRequest r;
    r.queue = f.string("queue", true).value_or("");
    r.gpu_milli = f.amount("gpu_milli", kMaxGpuMilli);
    r.cpu_milli = f.amount("cpu_milli", kMaxCpuMilli);
    r.memory_mib = f.amount("memory_mib", kMaxMemoryMib);
    r.priority = f.string("priority", false);
    r.kind = f.string("kind", false);
    r.cwd = f.string("cwd", true).value_or("");
    const Json* command = json.find("command");
    if (!command || !command->as_array() || command->as_array()->empty()) {
      return bad("field `command` must be a non-empty array of strings");
    }
    std::size_t bytes = r.cwd.size();
    for (const Json& a : *command->as_array()) {
      if (!a.as_string()) return bad("field `command` must be a non-empty array of strings");
      // exec takes C strings: a NUL would cut the argument short.
      if (a.as_string()->find('\0') != std::string::npos) return bad("field `command` must not contain NUL bytes");
      bytes += a.as_string()->size() + 1;
      r.command.push_back(*a.as_string());
    }
    if (r.cwd.find('\0') != std::string::npos) return bad("field `cwd` must not contain NUL bytes");
    if (bytes > kMaxCommandBytes)
      return bad("fields `command` and `cwd` are over " + std::to_string(kMaxCommandBytes) + " bytes together");
    if (const Json* env = json.find("env")) {
      if (!env->as_object()) return bad("field `env` must be an object of strings");
      for (const auto& [k, v] : *env->as_object()) {
        if (!v.as_string() || k.empty() || k.find('=') != std::string::npos || k.find('\0') != std::string::npos)
          return bad("field `env` must be an object of strings with names without `=`");
        if (v.as_string()->find('\0') != std::string::npos) return bad("field `env` must not contain NUL bytes");
        r.env.emplace_back(k, *v.as_string());
      }
    }
    if (!f.error && (r.cwd.empty() || r.cwd[0] != '/')) return bad("field `cwd` must be an absolute path");
    request = std::move(r);
  } else if (*op == "ps") {
    f.check_known({"op", "all"});
    request = PsRequest{f.flag("all")};
  } else if (*op == "cancel" || *op == "explain") {
    f.check_known({"op", "id"});
    const Json* id = json.find("id");
    const std::optional<std::int64_t> i = id ? id->as_int() : std::nullopt;
    if (!i || *i <= 0) return bad("field `id` must be a positive integer");
    if (*op == "cancel")
      request = CancelRequest{static_cast<std::uint64_t>(*i)};
    else
      request = ExplainRequest{static_cast<std::uint64_t>(*i)};
  } else if (*op == "node") {
    f.check_known({"op", "action", "node"});
    const std::string action = f.string("action", true).value_or("");
    NodeRequest r;
    r.node = f.string("node", true).value_or("");
    if (f.error) return *f.error;
    if (action == "cordon")
      r.action = NodeAction::cordon;
    else if (action == "drain")
      r.action = NodeAction::drain;
    else if (action == "uncordon")
      r.action = NodeAction::uncordon;
    else
      return bad("field `action` must be `cordon`, `drain` or `uncordon`");
    if (r.node.empty()) return bad("field `node` must name a node");
    request = std::move(r);
  } else if (*op == "status") {
    f.check_known({"op"});
    request = StatusRequest{};
  } else if (*op == "apply") {
    f.check_known({"op", "plan_path", "force", "refusal"});
    ApplyRequest r;
    r.plan_path = f.string("plan_path", true).value_or("");
    r.force = f.flag("force");
    r.refusal = f.string("refusal", false).value_or("");
    if (!f.error && (r.plan_path.empty() || r.plan_path[0] != '/'))
      return bad("field `plan_path` must be an absolute path");
    if (!f.error && !r.refusal.empty() && !r.force) return bad("field `refusal` needs `\"force\":true`");
    if (!f.error && r.refusal.size() > kMaxRefusalBytes)
      return bad("field `refusal` is over " + std::to_string(kMaxRefusalBytes) + " bytes");
    request = std::move(r);
  } else if (*op == "metrics") {
    f.check_known({"op"});
    request = MetricsRequest{};
  } else if (*op == "state") {
    f.check_known({"op"});
    request = StateRequest{};
  } else {
    return bad("unknown op `" + *op + "`");
  }
  if (f.error) return *f.error;
  return request;
}

std::variant<Request, ApiError> parse_request_line(std::string_view line) {
  if (line.size() >= kMaxRequestLine) return bad("request line too long");
  JsonParseResult parsed = parse_json(line);
  if (const JsonError* e = std::get_if<JsonError>(&parsed))
    return bad("malformed JSON at byte " + std::to_string(e->offset) + ": " + e->message);
  return decode_request(std::get<Json>(parsed));
}

std::string ok_reply(Json body) {
  Json reply;
  reply.set("ok", true);
  if (JsonObject* o = body.as_object()) {
    for (auto& [k, v] : *o) reply.set(std::move(k), std::move(v));
  }
  return reply.dump() + "\n";
}

std::string error_reply(const ApiError& error) {
  Json e;
  e.set("code", error.code);
  e.set("message", error.message);
  Json reply;
  reply.set("ok", false);
  reply.set("error", std::move(e));
  return reply.dump() + "\n";
}

std::optional<std::int64_t> parse_milli(std::string_view text) {
  if (text.empty()) return std::nullopt;
  const std::size_t dot = text.find('.');
  const std::string_view whole = text.substr(0, dot);
  std::string_view frac = dot == std::string_view::npos ? std::string_view() : text.substr(dot + 1);
  if (whole.empty() || (dot != std::string_view::npos && (frac.empty() || frac.size() > 3))) return std::nullopt;
  std::int64_t w = 0;
  auto r = std::from_chars(whole.data(), whole.data() + whole.size(), w);
  if (r.ec != std::errc() || r.ptr != whole.data() + whole.size() || w < 0 || w > 1'000'000'000) return std::nullopt;
  std::int64_t f = 0;
  for (std::size_t i = 0; i < 3; ++i) {
    const char c = i < frac.size() ? frac[i] : '0';
    if (c < '0' || c > '9') return std::nullopt;
    f = f * 10 + (c - '0');
  }
  return w * 1000 + f;
}

std::optional<std::int64_t> parse_memory_mib(std::string_view text) {
  std::int64_t factor = 1;
  for (const auto& [suffix, mul] : {std::pair<std::string_view, std::int64_t>{"TiB", 1024 * 1024},
                                    {"Ti", 1024 * 1024},
                                    {"GiB", 1024},
                                    {"Gi", 1024},
                                    {"MiB", 1},
                                    {"Mi", 1}}) {
    if (text.size() > suffix.size() && text.substr(text.size() - suffix.size()) == suffix) {
      text.remove_suffix(suffix.size());
      factor = mul;
      break;
    }
  }
  std::int64_t v = 0;
  const auto r = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || r.ec != std::errc() || r.ptr != text.data() + text.size() || v < 0 || v > (1LL << 40) / factor)
    return std::nullopt;
  return v * factor;
}

}  // namespace allot::api
