// The documents an editor has open and their analyses. An analysis runs the
// stages of `allot check` (parse, analyze, verify; driver/pipeline.h) on one
// document and the files it imports, with the editor's text for every open
// document and the disk for the rest. Parse results are cached per file: an
// analysis parses again only the files whose text changed.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "compiler/base/diagnostic.h"
#include "compiler/base/source.h"
#include "compiler/sema/model.h"
#include "compiler/syntax/ast.h"
#include "compiler/syntax/parser.h"

namespace allot::lsp {

struct Document {
  std::string uri;
  std::string path;  // the file's path; for a URI that is not `file://`, the URI
  std::string text;
  std::int64_t version = 0;
};

// A declared name: what go-to-definition finds, hover describes and
// completion offers.
struct Symbol {
  std::string kind;       // `quota`, `pool`, `node`, ...
  std::string name;       // as written
  std::string container;  // the kind of the enclosing declaration; empty at the top
  SourceRange name_range;
  SourceRange range;  // the whole declaration
};

struct Analysis {
  std::string uri;  // of the document analyzed
  SourceManager sources;
  DiagnosticSink sink;
  FileId main = kNoFile;
  std::vector<std::string> keys;  // the normalized path of each file, by FileId
  // For an imported file, the import in the document that leads to it.
  std::map<FileId, SourceRange> reached_through;
  std::optional<model::Policy> policy;  // when the policy analyzed without errors
  bool verified = false;                // and verify ran on it
  std::vector<Symbol> symbols;
  // The document does not parse: `symbols` are those of the latest analysis
  // in which it did (its own positions are stale, the names are not).
  bool symbols_from_earlier = false;
};

struct WorkspaceOptions {
  std::chrono::milliseconds solver_timeout{300};  // per obligation: typing must stay responsive
  syntax::ParseLimits limits;
  std::vector<std::string> import_roots;  // besides each document's directory
};

class Workspace {
 public:
  explicit Workspace(WorkspaceOptions options) : options_(std::move(options)) {}

  void add_import_root(std::string directory) { options_.import_roots.push_back(std::move(directory)); }

  // Opens or replaces a document. Returns the URIs whose analyses are now
  // stale: the document's and those of open documents that import it.
  std::vector<std::string> set(const std::string& uri, std::string text, std::int64_t version);
  std::vector<std::string> close(const std::string& uri);

  const Document* document(const std::string& uri) const;
  // The document's analysis, run first when stale; null for a document not open.
  const Analysis* analysis(const std::string& uri);
  bool stale(const std::string& uri) const { return stale_.count(uri) != 0; }

  // The URI an analysis's file has: the open document's, else a `file://` URI.
  std::string uri_of(const Analysis& analysis, FileId file) const;

  // Files parsed since the start, for tests of the cache.
  std::size_t parses() const { return parses_; }

 private:
  // A file's tree from an earlier analysis. The tree points into `text`,
  // which the next analysis's SourceManager shares when the text is the same.
  struct Parsed {
    std::shared_ptr<const std::string> text;
    FileId id = kNoFile;
    std::optional<ast::File> file;
    std::vector<Diagnostic> diagnostics;  // of the parse
  };

  std::unique_ptr<Analysis> run(const Document& doc, const Analysis* previous);

  WorkspaceOptions options_;
  std::map<std::string, Document> documents_;  // by URI
  std::map<std::string, std::unique_ptr<Analysis>> analyses_;
  std::set<std::string> stale_;
  std::map<std::string, Parsed> parsed_;  // by normalized path
  std::size_t parses_ = 0;
};

// The normalized absolute form of a path, as imports are compared.
std::string normalize_path(const std::string& path);

}  // namespace allot::lsp
