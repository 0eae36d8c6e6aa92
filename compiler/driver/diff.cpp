// `allot diff OLD NEW [-- PATH...]`: each side is a file or directory, or a
// git revision whose PATHs are extracted with `git archive` into a temporary
// directory. Both sides run the whole pipeline; the semantic comparison is
// compiler/diff. Exit status (docs/diff.md), as diff(1): 0 no semantic
// change, 1 a semantic change, 2 trouble (a side does not check, git fails).
#include "compiler/diff/diff.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>

#include "compiler/diff/render.h"
#include "compiler/driver/commands.h"
#include "compiler/driver/io.h"
#include "compiler/emit/diagnostics.h"

namespace allot::driver {
namespace {

namespace fs = std::filesystem;

// Runs `args` (no shell), its standard output into `out_file` (or discarded),
// its standard error kept for the message. Returns the exit status, -1 when
// it could not start.
int run_program(const std::vector<std::string>& args, const fs::path& out_file, std::string& error_text) {
  const fs::path err_file = out_file.string() + ".err";
  const pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    const int out = open(out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int err = open(err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int in = open("/dev/null", O_RDONLY);
    if (out < 0 || err < 0 || in < 0) _exit(127);
    dup2(in, 0);
    dup2(out, 1);
    dup2(err, 2);
    std::vector<char*> argv;
    argv.reserve(args.size() + 1);
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  std::error_code ec;
  if (fs::exists(err_file, ec)) {
    if (auto text = read_whole_file(err_file.string())) error_text = *text;
  }
  while (!error_text.empty() && (error_text.back() == '\n' || error_text.back() == '\r')) error_text.pop_back();
  if (const auto nl = error_text.rfind('\n'); nl != std::string::npos) error_text = error_text.substr(nl + 1);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// A temporary directory, removed with everything in it.
struct TempDir {
  fs::path path;
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "allot-diff-XXXXXX").string();
    if (mkdtemp(pattern.data()) != nullptr) path = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path.empty()) fs::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

struct Side {
  std::string shown;                // as given
  std::vector<std::string> inputs;  // what check_policy reads
  std::string tree;                 // for a revision: the directory it was extracted to
};

// `OLD`/`NEW` as a path that exists, else as a git revision.
tl::expected<Side, std::string> resolve(const std::string& given, const std::vector<std::string>& paths,
                                        const fs::path& scratch, const std::string& name) {
  Side side;
  side.shown = given;
  std::error_code ec;
  if (fs::exists(given, ec)) {
    if (!paths.empty()) {
      return tl::unexpected(fmt::format("`{}` is a file or directory: paths after `--` are for git revisions", given));
    }
    side.inputs.push_back(given);
    return side;
  }
  std::string error;
  const fs::path probe = scratch / "rev";
  const int rc = run_program({"git", "rev-parse", "--verify", "--quiet", given + "^{commit}"}, probe, error);
  if (rc == -1 || rc == 127) {
    return tl::unexpected(fmt::format("cannot read `{}`: no such file or directory, and `git` cannot be run", given));
  }
  if (rc != 0) {
    return tl::unexpected(
        fmt::format("cannot read `{}`: no such file or directory, nor a git revision of this repository", given));
  }
  if (paths.empty()) {
    return tl::unexpected(
        fmt::format("`{}` is a git revision: name the policy's files or directories after `--` (`allot diff {} NEW -- "
                    "policies/`)",
                    given, given));
  }
  std::string prefix_text;
  (void)run_program({"git", "rev-parse", "--show-prefix"}, scratch / "prefix", prefix_text);
  std::string prefix;
  if (auto p = read_whole_file((scratch / "prefix").string())) prefix = *p;
  while (!prefix.empty() && (prefix.back() == '\n' || prefix.back() == '\r')) prefix.pop_back();
  std::string top;
  (void)run_program({"git", "rev-parse", "--show-toplevel"}, scratch / "top", error);
  if (auto t = read_whole_file((scratch / "top").string())) top = *t;
  while (!top.empty() && (top.back() == '\n' || top.back() == '\r')) top.pop_back();

  const fs::path tree = scratch / name;
  fs::create_directories(tree, ec);
  const fs::path archive = scratch / (name + ".tar");
  std::vector<std::string> args{"git", "-C", top, "archive", "--format=tar", given, "--"};
  for (const std::string& p : paths) {
    std::string rel = fs::path(prefix + p).lexically_normal().generic_string();
    while (!rel.empty() && rel.back() == '/') rel.pop_back();
    if (rel.empty()) rel = ".";
    if (rel.rfind("..", 0) == 0 || fs::path(p).is_absolute()) {
      return tl::unexpected(fmt::format("`{}` is outside the git repository", p));
    }
    // A file brings its directory, where its imports may be.
    std::string type;
    std::string object = given;
    object += ":";
    object += rel;
    const int found = run_program({"git", "-C", top, "cat-file", "-t", object}, scratch / "type", error);
    if (auto t = read_whole_file((scratch / "type").string())) type = *t;
    if (found != 0) {
      return tl::unexpected(fmt::format("cannot read `{}` at `{}`: no such file or directory there", p, given));
    }
    const std::string parent = fs::path(rel).parent_path().generic_string();
    args.push_back(type.rfind("blob", 0) == 0 ? (parent.empty() ? std::string(".") : parent) : rel);
  }
  error.clear();
  if (run_program(args, archive, error) != 0) {
    return tl::unexpected(fmt::format("cannot read `{}` at `{}`: {}", fmt::join(paths, " "), given,
                                      error.empty() ? "`git archive` failed" : error));
  }
  if (run_program({"tar", "-xf", archive.string(), "-C", tree.string()}, scratch / "tar.out", error) != 0) {
    return tl::unexpected(fmt::format("cannot unpack `{}` at `{}`: {}", fmt::join(paths, " "), given, error));
  }
  for (const std::string& p : paths) side.inputs.push_back((tree / fs::path(prefix + p).lexically_normal()).string());
  side.tree = tree.string();
  return side;
}

// Diagnostics of a side, with an extracted revision's directory written as
// `REV:`.
std::string side_diagnostics(const CheckResult& r, const Side& side, bool color) {
  std::string text = emit::render_text(r.sources, r.sink, emit::TextOptions{color});
  if (side.tree.empty()) return text;
  const std::string from = side.tree + "/";
  const std::string to = side.shown + ":";
  for (std::size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

}  // namespace

int run_diff(const DiffOptions& options, Streams& streams) {
  const bool color =
      options.color == ColorMode::always || (options.color == ColorMode::automatic && streams.out_is_terminal);
  const bool err_color =
      options.color == ColorMode::always || (options.color == ColorMode::automatic && streams.err_is_terminal);
  TempDir scratch;
  if (scratch.path.empty()) return report_failure(streams, "cannot create a temporary directory");
  std::vector<Side> sides;
  for (int i = 0; i < 2; ++i) {
    const std::string& given = i == 0 ? options.old_input : options.new_input;
    const std::string& other = i == 0 ? options.new_input : options.old_input;
    // A revision without `--` paths takes the other side's path: `allot diff HEAD policy.allot`.
    std::vector<std::string> paths = options.paths;
    std::error_code ec;
    if (paths.empty() && !fs::exists(given, ec) && fs::exists(other, ec)) paths.push_back(other);
    tl::expected<Side, std::string> side = resolve(given, paths, scratch.path, i == 0 ? "old" : "new");
    if (!side) return report_failure(streams, side.error());
    sides.push_back(std::move(*side));
  }
  std::unique_ptr<CheckResult> results[2];
  bool failed = false;
  for (int i = 0; i < 2; ++i) {
    CheckRequest request;
    request.inputs = sides[i].inputs;
    request.import_roots = options.import_roots;
    request.timeout = options.timeout;
    results[i] = check_policy(request);
    results[i]->sink.sort();
    // A side's notes alone (N0201: an assertion the structure implies) are
    // `check`'s to show; the comparison is about the change.
    if (results[i]->sink.error_count() + results[i]->sink.warning_count() > 0) {
      streams.err << side_diagnostics(*results[i], sides[i], err_color);
    }
    if (results[i]->sink.has_errors() || !results[i]->policy) failed = true;
  }
  if (failed) {
    return report_failure(streams, "the policies must check before they can be compared (`allot check`)");
  }
  diff::Options diff_options;
  diff_options.timeout = options.timeout;
  const diff::PolicyDiff d = diff::compare(*results[0]->policy, *results[1]->policy, diff_options);
  diff::RenderOptions render{options.old_input, options.new_input, color};
  if (options.format == DiffFormat::json) {
    streams.out << diff::render_json(d, render);
  } else if (options.format == DiffFormat::markdown) {
    streams.out << diff::render_markdown(d, render);
  } else {
    streams.out << diff::render_text(d, render);
  }
  return d.changed() ? kExitPolicyError : kExitOk;
}

}  // namespace allot::driver
