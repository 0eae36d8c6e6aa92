// Reading policy files and following their imports (parser.h: load,
// read_source_file); parsing each file is parser.cpp's.
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <set>

#include "compiler/base/codes.h"
#include "compiler/syntax/parser.h"

namespace allot::syntax {

ReadOutcome read_source_file(const std::string& path, std::size_t max_bytes, std::string& out) {
  ReadOutcome r;
  // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    r.problem = std::strerror(errno);
    return r;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    r.problem = std::strerror(errno);
    ::close(fd);
    return r;
  }
  if (!S_ISREG(st.st_mode)) {
    r.problem = S_ISDIR(st.st_mode) ? "it is a directory" : "not a regular file";
    ::close(fd);
    return r;
  }
  // The size limit applies while reading: a file that grows, or lies about
  // its size (/proc), is never read past it.
  std::string text;
  char buffer[65536];
  for (;;) {
    const std::size_t want = std::min(sizeof(buffer), max_bytes + 1 - text.size());
    const ssize_t n = ::read(fd, buffer, want);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) {
      r.problem = std::strerror(errno);
      ::close(fd);
      return r;
    }
    if (n == 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
    if (text.size() > max_bytes) {
      r.too_large = true;
      r.problem = fmt::format("more than the limit of {} bytes", max_bytes);
      ::close(fd);
      return r;
    }
  }
  ::close(fd);
  out = std::move(text);
  r.ok = true;
  return r;
}

namespace {

std::string normalize(const std::filesystem::path& p) {
  std::error_code ec;
  const std::filesystem::path absolute = std::filesystem::absolute(p, ec);
  if (ec) return p.lexically_normal().string();
  auto canonical = std::filesystem::weakly_canonical(absolute, ec);
  std::string out = (ec ? absolute.lexically_normal() : canonical.lexically_normal()).string();
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

// Is `path` (normalized) inside directory `root` (normalized)?
bool inside(const std::string& path, const std::string& root) {
  if (root == "/") return !path.empty() && path[0] == '/';
  return path.size() > root.size() && path.compare(0, root.size(), root) == 0 && path[root.size()] == '/';
}

}  // namespace

LoadResult load(SourceManager& sources, const std::vector<std::string>& paths, DiagnosticSink& sink,
                const ParseLimits& limits, const ImportPolicy& imports) {
  LoadResult result;
  // The path each file was first named by, keyed by its canonical path.
  std::map<std::string, FileId> loaded;
  std::set<std::string> in_progress;
  std::vector<std::string> stack;  // paths as shown, for the cycle note
  std::vector<std::string> roots;
  for (const std::string& r : imports.roots) roots.push_back(normalize(r));
  if (imports.roots.empty()) {
    for (const std::string& p : paths) {
      const std::filesystem::path parent = std::filesystem::path(p).parent_path();
      roots.push_back(normalize(parent.empty() ? std::filesystem::path(".") : parent));
    }
  }
  for (const std::string& r : imports.extra_roots) roots.push_back(normalize(r));

  std::function<void(const std::string&, const std::string&, SourceRange)> visit = [&](const std::string& shown_path,
                                                                                       const std::string& key,
                                                                                       SourceRange imported_at) {
    if (loaded.count(key) != 0) return;
    std::string text;
    const ReadOutcome read = read_source_file(shown_path, limits.max_file_bytes, text);
    if (!read.ok) {
      if (read.too_large) {
        sink.error(code::E0006, imported_at, fmt::format("file `{}` is {}", shown_path, read.problem))
            .add_help("split the policy into several files joined with `import`");
      } else if (imported_at.valid()) {
        sink.error(code::E0009, imported_at,
                   fmt::format("cannot read imported file `{}`: {}", shown_path, read.problem))
            .add_help("import paths are relative to the importing file");
      } else {
        result.io_error = true;
        sink.error(code::E0008, SourceRange{}, fmt::format("cannot read `{}`: {}", shown_path, read.problem));
      }
      return;
    }
    const FileId id = sources.add(shown_path, std::move(text));
    loaded.emplace(key, id);
    std::optional<ast::File> file;
    if (imported_at.valid()) {
      // Its diagnostics would quote it; only where it failed is told.
      DiagnosticSink quiet;
      file = parse(sources, id, quiet, limits);
      if (!file) {
        std::string where;
        for (const Diagnostic& d : quiet.diagnostics()) {
          if (d.severity != Severity::error) continue;
          if (d.range.valid()) {
            const LineColumn lc = sources.line_column(d.range.file, d.range.begin);
            where = fmt::format(" (first error {} at line {}, column {})", d.code, lc.line, lc.column);
          } else {
            where = fmt::format(" (first error {})", d.code);
          }
          break;
        }
        sink.error(code::E0011, imported_at,
                   fmt::format("imported file `{}` is not a valid policy{}", shown_path, where))
            .add_help(fmt::format("run `allot check {}` to see its problems", shown_path));
        return;
      }
    } else {
      ParsedFile parsed = parse_recovering(sources, id, sink, limits);
      if (!parsed.file) return;
      if (!parsed.complete) result.partial = true;
      file = std::move(parsed.file);
    }
    in_progress.insert(key);
    stack.push_back(shown_path);
    const std::filesystem::path dir = std::filesystem::path(shown_path).parent_path();
    for (const ast::Import& import : file->imports) {
      const std::filesystem::path target = dir / import.path;
      const std::string target_key = normalize(target);
      if (std::none_of(roots.begin(), roots.end(), [&](const std::string& r) { return inside(target_key, r); })) {
        sink.error(code::E0012, import.range, fmt::format("import of `{}` leaves the policy's directory", import.path))
            .note("imports may lead only below the directories of the files checked")
            .add_help("to allow it, pass `--import-root DIR` with a directory that holds the imported file");
        continue;
      }
      if (in_progress.count(target_key) != 0) {
        std::string chain;
        for (const std::string& step : stack) chain += fmt::format("`{}` -> ", step);
        chain += fmt::format("`{}`", target.lexically_normal().string());
        sink.error(code::E0010, import.range, fmt::format("cyclic import of `{}`", import.path))
            .note(fmt::format("import chain: {}", chain))
            .add_help("move the shared declarations into a file that both import");
        continue;
      }
      visit(target.lexically_normal().string(), target_key, import.range);
    }
    stack.pop_back();
    in_progress.erase(key);
    result.files.push_back(std::move(*file));
  };

  for (const std::string& path : paths) visit(path, normalize(path), SourceRange{});
  return result;
}

}  // namespace allot::syntax
