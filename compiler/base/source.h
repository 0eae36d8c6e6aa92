// Source text of every file of a policy, held in memory, and positions in it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace allot {

using FileId = std::uint32_t;
inline constexpr FileId kNoFile = 0xffffffffu;

// A half-open byte range [begin, end) in one file.
struct SourceRange {
  FileId file = kNoFile;
  std::uint32_t begin = 0;
  std::uint32_t end = 0;

  bool valid() const { return file != kNoFile; }
  friend bool operator==(const SourceRange&, const SourceRange&) = default;
};

// Joins two ranges of the same file into the smallest range covering both.
SourceRange join(SourceRange a, SourceRange b);

// 1-based line; 1-based column counted in Unicode code points.
struct LineColumn {
  std::uint32_t line = 0;
  std::uint32_t column = 0;
};

class SourceManager {
 public:
  // Takes ownership of the text. Returns the new file's id.
  FileId add(std::string path, std::string text);
  // Shares a text another manager holds: syntax trees point into their
  // file's text (ast.h), so a tree kept beyond its manager (the language
  // server's cache) stays valid for as long as its text is shared.
  FileId add(std::string path, std::shared_ptr<const std::string> text);

  std::size_t file_count() const { return files_.size(); }
  const std::string& path(FileId id) const { return files_.at(id)->path; }
  std::string_view text(FileId id) const { return *files_.at(id)->text; }
  const std::shared_ptr<const std::string>& shared_text(FileId id) const { return files_.at(id)->text; }

  LineColumn line_column(FileId id, std::uint32_t offset) const;
  // The text of a 1-based line without its line terminator.
  std::string_view line_text(FileId id, std::uint32_t line) const;
  std::string_view slice(SourceRange range) const;

 private:
  struct File {
    std::string path;
    std::shared_ptr<const std::string> text;  // never null
    std::vector<std::uint32_t> line_starts;
  };
  std::vector<std::unique_ptr<File>> files_;
};

// Returns the byte offset of the first invalid UTF-8 sequence, or npos.
std::size_t find_invalid_utf8(std::string_view text);

}  // namespace allot
