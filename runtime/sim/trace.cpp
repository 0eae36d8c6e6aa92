#include "runtime/sim/trace.h"

#include <charconv>
#include <cmath>
#include <optional>

namespace allot::runtime::sim {

const char* to_string(TraceFormat format) { return format == TraceFormat::openb ? "openb" : "generic"; }

const char* to_string(SkipReason reason) {
  switch (reason) {
    case SkipReason::no_gpu_request:
      return "no_gpu_request";
    case SkipReason::not_deleted:
      return "not_deleted";
    case SkipReason::non_positive_runtime:
      return "non_positive_runtime";
  }
  return "unknown";
}

std::uint64_t Trace::skipped_total() const {
  std::uint64_t n = 0;
  for (std::uint64_t c : skipped) n += c;
  return n;
}

std::string InputError::to_string() const {
  std::string out = path;
  if (line > 0) out += ":" + std::to_string(line) + ":" + std::to_string(column);
  return out + ": " + message;
}

namespace {

// A field of a CSV line and the 1-based column where it starts.
struct Field {
  std::string_view text;
  std::uint32_t column = 1;
};

// Thrown inside the readers only; the public functions turn it into an InputError.
struct Failure {
  std::uint32_t line;
  std::uint32_t column;
  std::string message;
};

// Splits unquoted CSV (the traces quote nothing); a quote is an error rather
// than a silently misread field.
std::vector<Field> split(std::string_view line, std::uint32_t line_no) {
  std::vector<Field> out;
  std::size_t start = 0;
  for (std::size_t i = 0;; ++i) {
    if (i == line.size() || line[i] == ',') {
      out.push_back({line.substr(start, i - start), static_cast<std::uint32_t>(start + 1)});
      if (i == line.size()) break;
      start = i + 1;
    } else if (line[i] == '"') {
      throw Failure{line_no, static_cast<std::uint32_t>(i + 1), "quoted CSV fields are not supported"};
    }
  }
  for (Field& f : out) {  // surrounding blanks are not part of a value
    while (!f.text.empty() && (f.text.front() == ' ' || f.text.front() == '\t')) {
      f.text.remove_prefix(1);
      ++f.column;
    }
    while (!f.text.empty() && (f.text.back() == ' ' || f.text.back() == '\t')) f.text.remove_suffix(1);
  }
  return out;
}

// Calls visit(line_text, line_no) for each non-blank line, '\r' stripped.
template <typename Visit>
void for_each_line(std::string_view text, Visit visit) {
  std::uint32_t line_no = 0;
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
    visit(line, line_no);
  }
}

std::int64_t integer(const Field& f, std::uint32_t line, std::string_view what) {
  std::int64_t v = 0;
  const char* end = f.text.data() + f.text.size();
  const auto [ptr, ec] = std::from_chars(f.text.data(), end, v);
  if (f.text.empty() || ec != std::errc{} || ptr != end)
    throw Failure{line, f.column, "`" + std::string(what) + "` must be an integer, not `" + std::string(f.text) + "`"};
  return v;
}

double decimal(const Field& f, std::uint32_t line, std::string_view what) {
  double v = 0;
  const char* end = f.text.data() + f.text.size();
  const auto [ptr, ec] = std::from_chars(f.text.data(), end, v);
  if (f.text.empty() || ec != std::errc{} || ptr != end || !std::isfinite(v))
    throw Failure{line, f.column, "`" + std::string(what) + "` must be a number, not `" + std::string(f.text) + "`"};
  return v;
}

// A time in whole seconds, no later than the 9e15 ms that `scaled` allows,
// so that it can be turned into milliseconds and two of them subtracted.
std::int64_t seconds(const Field& f, std::uint32_t line, std::string_view what) {
  const std::int64_t v = integer(f, line, what);
  if (v < 0) throw Failure{line, f.column, "`" + std::string(what) + "` must not be negative"};
  if (v > 9'000'000'000'000) throw Failure{line, f.column, "`" + std::string(what) + "` is too large"};
  return v;
}

std::int64_t scaled(const Field& f, std::uint32_t line, std::string_view what, double scale) {
  const double v = decimal(f, line, what);
  if (v < 0) throw Failure{line, f.column, "`" + std::string(what) + "` must not be negative"};
  if (v * scale > 9.0e15) throw Failure{line, f.column, "`" + std::string(what) + "` is too large"};
  return static_cast<std::int64_t>(std::llround(v * scale));
}

// The header's columns by name: index of each wanted column, or -1.
struct Header {
  std::vector<std::string_view> names;
  int find(std::string_view name) const {
    for (std::size_t i = 0; i < names.size(); ++i)
      if (names[i] == name) return static_cast<int>(i);
    return -1;
  }
};

constexpr std::string_view kOpenbColumns[] = {"name", "cpu_milli",     "memory_mib",    "num_gpu",       "gpu_milli",
                                              "qos",  "creation_time", "deletion_time", "scheduled_time"};
// An untimed openb pod list (openb_pod_list_multigpu50.csv): requests only,
// for load mode.
constexpr std::string_view kOpenbUntimedColumns[] = {"name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli"};
constexpr std::string_view kGenericColumns[] = {"submit_time", "duration", "queue", "user", "kind", "priority", "gpus"};

template <std::size_t N>
bool has_all(const Header& h, const std::string_view (&columns)[N]) {
  for (std::string_view c : columns)
    if (h.find(c) < 0) return false;
  return true;
}

// Column indexes resolved once; `at` checks that the line is long enough.
struct Row {
  const std::vector<Field>& fields;
  std::uint32_t line;
  std::size_t line_length;
  const Field& at(int column, std::string_view name) const {
    if (column < 0 || static_cast<std::size_t>(column) >= fields.size())
      throw Failure{line, static_cast<std::uint32_t>(line_length + 1),
                    "missing column `" + std::string(name) + "` (" + std::to_string(fields.size()) + " fields)"};
    return fields[static_cast<std::size_t>(column)];
  }
};

void parse_openb_line(const Header& h, const Row& row, Trace& trace) {
  const Field& name = row.at(h.find("name"), "name");
  if (name.text.empty()) throw Failure{row.line, name.column, "empty pod name"};
  TraceJob job;
  job.name = std::string(name.text);
  job.line = row.line;
  job.request.cpu_milli = integer(row.at(h.find("cpu_milli"), "cpu_milli"), row.line, "cpu_milli");
  job.request.memory_mib = integer(row.at(h.find("memory_mib"), "memory_mib"), row.line, "memory_mib");
  const Field& num_gpu_field = row.at(h.find("num_gpu"), "num_gpu");
  const std::int64_t num_gpu = integer(num_gpu_field, row.line, "num_gpu");
  const Field& gpu_milli_field = row.at(h.find("gpu_milli"), "gpu_milli");
  const std::int64_t gpu_milli = integer(gpu_milli_field, row.line, "gpu_milli");
  if (num_gpu < 0 || num_gpu > 4096) throw Failure{row.line, num_gpu_field.column, "`num_gpu` out of range"};
  if (gpu_milli < 0 || gpu_milli > kMilliPerGpu)
    throw Failure{row.line, gpu_milli_field.column, "`gpu_milli` must be between 0 and 1000"};
  if (job.request.cpu_milli < 0 || job.request.memory_mib < 0)
    throw Failure{row.line, name.column, "negative cpu_milli or memory_mib"};
  // A share of one GPU only when num_gpu is 1; multi-GPU pods take whole GPUs.
  job.request.gpu_milli = num_gpu == 1 ? (gpu_milli == 0 ? kMilliPerGpu : gpu_milli) : num_gpu * kMilliPerGpu;
  if (const int spec = h.find("gpu_spec"); spec >= 0 && static_cast<std::size_t>(spec) < row.fields.size())
    job.gpu_spec = std::string(row.fields[static_cast<std::size_t>(spec)].text);
  if (!trace.timed) {
    trace.pods.push_back(job);  // requests only: all submitted at 0 in file order, never ending
    if (num_gpu == 0) {
      ++trace.skipped[static_cast<std::size_t>(SkipReason::no_gpu_request)];
      return;
    }
    job.runtime_ms = 1;
    trace.jobs.push_back(std::move(job));
    return;
  }
  const Field& qos = row.at(h.find("qos"), "qos");
  if (qos.text == "LS" || qos.text == "Guaranteed") {
    job.preemptible = false;
  } else if (qos.text == "BE" || qos.text == "Burstable") {
    job.preemptible = true;
  } else {
    throw Failure{row.line, qos.column,
                  "unknown qos `" + std::string(qos.text) + "` (expected LS, Guaranteed, BE or Burstable)"};
  }
  job.qos = std::string(qos.text);
  const std::int64_t created = seconds(row.at(h.find("creation_time"), "creation_time"), row.line, "creation_time");
  const Field& deleted = row.at(h.find("deletion_time"), "deletion_time");
  const Field& scheduled = row.at(h.find("scheduled_time"), "scheduled_time");
  job.submit_ms = created * 1000;
  trace.pods.push_back(job);
  if (num_gpu == 0) {
    ++trace.skipped[static_cast<std::size_t>(SkipReason::no_gpu_request)];
    return;
  }
  if (deleted.text.empty()) {
    ++trace.skipped[static_cast<std::size_t>(SkipReason::not_deleted)];
    return;
  }
  const std::int64_t deleted_at = seconds(deleted, row.line, "deletion_time");
  const std::int64_t started_at = scheduled.text.empty() ? created : seconds(scheduled, row.line, "scheduled_time");
  if (deleted_at - started_at <= 0) {
    ++trace.skipped[static_cast<std::size_t>(SkipReason::non_positive_runtime)];
    return;
  }
  job.submit_ms = created * 1000;
  job.runtime_ms = (deleted_at - started_at) * 1000;
  trace.jobs.push_back(std::move(job));
}

void parse_generic_line(const Header& h, const Row& row, Trace& trace) {
  TraceJob job;
  job.line = row.line;
  const int name_col = h.find("name");
  job.name = name_col >= 0 && !row.at(name_col, "name").text.empty() ? std::string(row.at(name_col, "name").text)
                                                                     : "line " + std::to_string(row.line);
  job.submit_ms = scaled(row.at(h.find("submit_time"), "submit_time"), row.line, "submit_time", 1000.0);
  const Field& duration = row.at(h.find("duration"), "duration");
  job.runtime_ms = scaled(duration, row.line, "duration", 1000.0);
  const Field& queue = row.at(h.find("queue"), "queue");
  if (queue.text.empty()) throw Failure{row.line, queue.column, "empty queue"};
  job.queue = std::string(queue.text);
  job.user = std::string(row.at(h.find("user"), "user").text);
  const Field& kind = row.at(h.find("kind"), "kind");
  if (kind.text == "training" || kind.text.empty()) {
    job.kind = WorkloadKind::training;
  } else if (kind.text == "inference" || kind.text == "serving") {
    job.kind = WorkloadKind::inference;
  } else if (kind.text == "development") {
    job.kind = WorkloadKind::development;
  } else {
    throw Failure{row.line, kind.column,
                  "unknown kind `" + std::string(kind.text) + "` (expected training, inference or development)"};
  }
  job.priority = std::string(row.at(h.find("priority"), "priority").text);
  job.request.gpu_milli = scaled(row.at(h.find("gpus"), "gpus"), row.line, "gpus", 1000.0);
  if (const int c = h.find("cpu"); c >= 0 && static_cast<std::size_t>(c) < row.fields.size() &&
                                   !row.fields[static_cast<std::size_t>(c)].text.empty())
    job.request.cpu_milli = scaled(row.fields[static_cast<std::size_t>(c)], row.line, "cpu", 1000.0);
  if (const int c = h.find("memory"); c >= 0 && static_cast<std::size_t>(c) < row.fields.size() &&
                                      !row.fields[static_cast<std::size_t>(c)].text.empty())
    job.request.memory_mib = scaled(row.fields[static_cast<std::size_t>(c)], row.line, "memory", 1.0);
  if (const int c = h.find("preemptible"); c >= 0 && static_cast<std::size_t>(c) < row.fields.size()) {
    const Field& f = row.fields[static_cast<std::size_t>(c)];
    if (f.text == "false" || f.text == "0") {
      job.preemptible = false;
    } else if (!(f.text.empty() || f.text == "true" || f.text == "1")) {
      throw Failure{row.line, f.column, "`preemptible` must be true or false"};
    }
  }
  if (job.runtime_ms <= 0) {
    ++trace.skipped[static_cast<std::size_t>(SkipReason::non_positive_runtime)];
    return;
  }
  trace.jobs.push_back(std::move(job));
}

}  // namespace

TraceResult parse_trace(std::string_view text, std::string_view path) {
  Trace trace;
  std::optional<Header> header;
  try {
    for_each_line(text, [&](std::string_view line, std::uint32_t line_no) {
      const std::vector<Field> fields = split(line, line_no);
      if (!header) {
        header.emplace();
        for (const Field& f : fields) header->names.push_back(f.text);
        if (has_all(*header, kOpenbColumns)) {
          trace.format = TraceFormat::openb;
        } else if (has_all(*header, kGenericColumns)) {
          trace.format = TraceFormat::generic;
        } else if (has_all(*header, kOpenbUntimedColumns)) {
          trace.format = TraceFormat::openb;
          trace.timed = false;
        } else {
          throw Failure{line_no, 1,
                        "unknown trace header: expected the openb pod list columns "
                        "(name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,"
                        "deletion_time,scheduled_time; or only the first five, untimed) or the generic columns "
                        "(submit_time,duration,queue,user,kind,priority,gpus[,cpu,memory])"};
        }
        return;
      }
      ++trace.lines;
      const Row row{fields, line_no, line.size()};
      if (trace.format == TraceFormat::openb)
        parse_openb_line(*header, row, trace);
      else
        parse_generic_line(*header, row, trace);
    });
  } catch (const Failure& f) {
    return InputError{std::string(path), f.line, f.column, f.message};
  }
  if (!header) return InputError{std::string(path), 0, 0, "empty trace (no header line)"};
  return trace;
}

NodeListResult parse_node_list(std::string_view text, std::string_view path) {
  std::vector<NodeRow> nodes;
  std::optional<Header> header;
  try {
    for_each_line(text, [&](std::string_view line, std::uint32_t line_no) {
      const std::vector<Field> fields = split(line, line_no);
      if (!header) {
        header.emplace();
        for (const Field& f : fields) header->names.push_back(f.text);
        for (std::string_view c : {"sn", "gpu"})
          if (header->find(c) < 0)
            throw Failure{line_no, 1,
                          "not an openb node list: no `" + std::string(c) +
                              "` column (expected sn,cpu_milli,memory_mib,gpu,model)"};
        return;
      }
      const Row row{fields, line_no, line.size()};
      NodeRow n;
      const Field& name = row.at(header->find("sn"), "sn");
      if (name.text.empty()) throw Failure{line_no, name.column, "empty node name"};
      n.name = std::string(name.text);
      const Field& gpus = row.at(header->find("gpu"), "gpu");
      const std::int64_t g = integer(gpus, line_no, "gpu");
      if (g < 0 || g > 64) throw Failure{line_no, gpus.column, "`gpu` must be between 0 and 64"};
      n.gpus = static_cast<std::uint32_t>(g);
      if (const int c = header->find("model"); c >= 0) n.model = std::string(row.at(c, "model").text);
      if (const int c = header->find("cpu_milli"); c >= 0)
        n.cpu_milli = integer(row.at(c, "cpu_milli"), line_no, "cpu_milli");
      if (const int c = header->find("memory_mib"); c >= 0)
        n.memory_mib = integer(row.at(c, "memory_mib"), line_no, "memory_mib");
      if (n.gpus > 0) nodes.push_back(std::move(n));
    });
  } catch (const Failure& f) {
    return InputError{std::string(path), f.line, f.column, f.message};
  }
  if (!header) return InputError{std::string(path), 0, 0, "empty node list (no header line)"};
  return nodes;
}

}  // namespace allot::runtime::sim
