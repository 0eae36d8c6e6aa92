#include "compiler/lsp/workspace.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <functional>

#include "compiler/base/codes.h"
#include "compiler/lsp/protocol.h"
#include "compiler/sema/analyze.h"
#include "compiler/verify/verify.h"

namespace allot::lsp {
namespace {

bool inside(const std::string& path, const std::string& root) {
  if (root == "/") return !path.empty() && path[0] == '/';
  return path.size() > root.size() && path.compare(0, root.size(), root) == 0 && path[root.size()] == '/';
}

Diagnostic& copy_into(DiagnosticSink& sink, const Diagnostic& d) {
  Diagnostic& out = d.severity == Severity::error     ? sink.error(d.code, d.range, d.message)
                    : d.severity == Severity::warning ? sink.warning(d.code, d.range, d.message)
                                                      : sink.notice(d.code, d.range, d.message);
  out.notes = d.notes;
  out.help = d.help;
  return out;
}

void collect_symbols(const ast::Declaration& decl, std::string_view container, std::vector<Symbol>& out) {
  out.push_back(Symbol{std::string(decl.kind.text), std::string(decl.name.text), std::string(container),
                       decl.name.range, decl.range});
  if (!decl.body) return;
  for (const ast::Declaration& inner : decl.body->declarations) collect_symbols(inner, decl.kind.text, out);
}

}  // namespace

std::string normalize_path(const std::string& path) {
  std::error_code ec;
  const std::filesystem::path absolute = std::filesystem::absolute(path, ec);
  if (ec) return std::filesystem::path(path).lexically_normal().string();
  const std::filesystem::path canonical = std::filesystem::weakly_canonical(absolute, ec);
  std::string out = (ec ? absolute.lexically_normal() : canonical.lexically_normal()).string();
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

std::vector<std::string> Workspace::set(const std::string& uri, std::string text, std::int64_t version) {
  Document& doc = documents_[uri];
  doc.uri = uri;
  doc.path = path_of_uri(uri).value_or(uri);
  doc.text = std::move(text);
  doc.version = version;
  const std::string key = path_of_uri(uri) ? normalize_path(doc.path) : uri;
  std::vector<std::string> stale{uri};
  for (const auto& [other, analysis] : analyses_) {
    if (other != uri && std::find(analysis->keys.begin(), analysis->keys.end(), key) != analysis->keys.end()) {
      stale.push_back(other);
    }
  }
  for (const std::string& s : stale) stale_.insert(s);
  return stale;
}

std::vector<std::string> Workspace::close(const std::string& uri) {
  const auto it = documents_.find(uri);
  if (it == documents_.end()) return {};
  const std::string key = path_of_uri(uri) ? normalize_path(it->second.path) : uri;
  documents_.erase(it);
  analyses_.erase(uri);
  stale_.erase(uri);
  // Documents importing it read it from the disk again.
  std::vector<std::string> stale;
  for (const auto& [other, analysis] : analyses_) {
    if (std::find(analysis->keys.begin(), analysis->keys.end(), key) != analysis->keys.end()) {
      stale.push_back(other);
      stale_.insert(other);
    }
  }
  return stale;
}

const Document* Workspace::document(const std::string& uri) const {
  const auto it = documents_.find(uri);
  return it == documents_.end() ? nullptr : &it->second;
}

const Analysis* Workspace::analysis(const std::string& uri) {
  const Document* doc = document(uri);
  if (doc == nullptr) return nullptr;
  if (stale_.count(uri) != 0 || analyses_.count(uri) == 0) {
    std::unique_ptr<Analysis>& slot = analyses_[uri];
    slot = run(*doc, slot.get());
    stale_.erase(uri);
  }
  return analyses_[uri].get();
}

std::string Workspace::uri_of(const Analysis& analysis, FileId file) const {
  if (file == analysis.main) return analysis.uri;
  const std::string& key = file < analysis.keys.size() ? analysis.keys[file] : std::string();
  for (const auto& [uri, doc] : documents_) {
    if (path_of_uri(uri) ? normalize_path(doc.path) == key : uri == key) return uri;
  }
  return uri_of_path(key);
}

std::unique_ptr<Analysis> Workspace::run(const Document& doc, const Analysis* previous) {
  auto result = std::make_unique<Analysis>();
  Analysis& a = *result;
  a.uri = doc.uri;
  const bool on_disk = path_of_uri(doc.uri).has_value();
  const std::string main_key = on_disk ? normalize_path(doc.path) : doc.uri;

  // Open documents shadow the disk.
  std::map<std::string, const Document*> open;
  for (const auto& [uri, d] : documents_) open[path_of_uri(uri) ? normalize_path(d.path) : uri] = &d;

  std::vector<std::string> roots;
  if (on_disk) roots.push_back(normalize_path(std::filesystem::path(doc.path).parent_path().string()));
  for (const std::string& r : options_.import_roots) roots.push_back(normalize_path(r));

  std::vector<ast::File> files;
  std::vector<std::string> file_keys;  // parallel to `files`, to give them back to the cache
  std::map<std::string, FileId> loaded;
  std::set<std::string> in_progress;
  std::vector<std::string> chain;

  std::function<void(const std::string&, const std::string&, SourceRange, SourceRange)> visit =
      [&](const std::string& shown, const std::string& key, SourceRange imported_at, SourceRange top_import) {
        if (loaded.count(key) != 0) return;
        std::string text;
        if (const auto it = open.find(key); it != open.end()) {
          text = it->second->text;
          if (text.size() > options_.limits.max_file_bytes) {
            a.sink.error(
                code::E0006, imported_at,
                fmt::format("file `{}` is more than the limit of {} bytes", shown, options_.limits.max_file_bytes));
            return;
          }
        } else {
          const syntax::ReadOutcome read = syntax::read_source_file(shown, options_.limits.max_file_bytes, text);
          if (!read.ok) {
            if (read.too_large) {
              a.sink.error(code::E0006, imported_at, fmt::format("file `{}` is {}", shown, read.problem))
                  .add_help("split the policy into several files joined with `import`");
            } else {
              a.sink
                  .error(code::E0009, imported_at,
                         fmt::format("cannot read imported file `{}`: {}", shown, read.problem))
                  .add_help("import paths are relative to the importing file");
            }
            return;
          }
        }
        Parsed& cached = parsed_[key];
        const bool reuse = cached.file && cached.id == a.sources.file_count() && cached.text && *cached.text == text;
        const FileId id = reuse ? a.sources.add(shown, cached.text) : a.sources.add(shown, std::move(text));
        a.keys.push_back(key);
        loaded.emplace(key, id);
        if (imported_at.valid()) a.reached_through[id] = top_import;

        if (!reuse) {
          DiagnosticSink parse_sink;
          ++parses_;
          cached.file = syntax::parse(a.sources, id, parse_sink, options_.limits);
          cached.id = id;
          cached.text = a.sources.shared_text(id);
          cached.diagnostics = parse_sink.diagnostics();
          // A file that does not parse is parsed again next time: no tree to keep.
          if (!cached.file) cached.id = kNoFile;
        }
        const std::vector<Diagnostic> diagnostics = cached.diagnostics;
        std::optional<ast::File> file = std::move(cached.file);
        cached.file.reset();
        if (!imported_at.valid()) {
          for (const Diagnostic& d : diagnostics) copy_into(a.sink, d);
          if (!file) return;
        } else if (!file) {
          std::string where;
          for (const Diagnostic& d : diagnostics) {
            if (d.severity != Severity::error || !d.range.valid()) continue;
            const LineColumn lc = a.sources.line_column(d.range.file, d.range.begin);
            where = fmt::format(" (first error {} at line {}, column {})", d.code, lc.line, lc.column);
            break;
          }
          a.sink
              .error(code::E0011, imported_at, fmt::format("imported file `{}` is not a valid policy{}", shown, where))
              .add_help(fmt::format("open `{}` to see its problems", shown));
          return;
        }
        in_progress.insert(key);
        chain.push_back(shown);
        const std::filesystem::path dir = std::filesystem::path(shown).parent_path();
        for (const ast::Import& import : file->imports) {
          const std::filesystem::path target = dir / import.path;
          const std::string target_key = normalize_path(target.string());
          const SourceRange top = imported_at.valid() ? top_import : import.range;
          if (!on_disk ||
              std::none_of(roots.begin(), roots.end(), [&](const std::string& r) { return inside(target_key, r); })) {
            a.sink
                .error(code::E0012, import.range,
                       fmt::format("import of `{}` leaves the policy's directory", import.path))
                .note("imports may lead only below the directory of the file and the workspace folders")
                .add_help("open the workspace folder that holds the imported file");
            continue;
          }
          if (in_progress.count(target_key) != 0) {
            std::string steps;
            for (const std::string& step : chain) steps += fmt::format("`{}` -> ", step);
            steps += fmt::format("`{}`", target.lexically_normal().string());
            a.sink.error(code::E0010, import.range, fmt::format("cyclic import of `{}`", import.path))
                .note(fmt::format("import chain: {}", steps))
                .add_help("move the shared declarations into a file that both import");
            continue;
          }
          visit(target.lexically_normal().string(), target_key, import.range, top);
        }
        chain.pop_back();
        in_progress.erase(key);
        files.push_back(std::move(*file));
        file_keys.push_back(key);
      };
  visit(doc.path, main_key, SourceRange{}, SourceRange{});
  a.main = a.sources.file_count() > 0 ? 0 : kNoFile;

  const bool main_parsed = !file_keys.empty() && file_keys.back() == main_key;
  if (!main_parsed && previous != nullptr) {
    a.symbols = previous->symbols;
    a.symbols_from_earlier = true;
  } else {
    for (const ast::File& f : files) {
      for (const ast::Declaration& d : f.declarations) collect_symbols(d, "", a.symbols);
    }
  }
  // The stages of `allot check` after loading (driver/pipeline.cpp).
  std::optional<model::Policy> policy = sema::analyze(a.sources, files, a.sink);
  if (policy && !a.sink.has_errors()) {
    verify::Options verify_options;
    verify_options.timeout = options_.solver_timeout;
    verify::verify(a.sources, *policy, a.sink, verify_options);
    a.verified = true;
    a.policy = std::move(policy);
  }
  a.sink.sort();
  // The trees go back to the cache for the next analysis.
  for (std::size_t i = 0; i < files.size(); ++i) parsed_[file_keys[i]].file = std::move(files[i]);
  return result;
}

}  // namespace allot::lsp
