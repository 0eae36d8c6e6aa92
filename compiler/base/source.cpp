#include "compiler/base/source.h"

#include <algorithm>

namespace allot {

SourceRange join(SourceRange a, SourceRange b) {
  if (!a.valid()) return b;
  if (!b.valid() || a.file != b.file) return a;
  return SourceRange{a.file, std::min(a.begin, b.begin), std::max(a.end, b.end)};
}

FileId SourceManager::add(std::string path, std::string text) {
  return add(std::move(path), std::make_shared<const std::string>(std::move(text)));
}

FileId SourceManager::add(std::string path, std::shared_ptr<const std::string> text) {
  auto file = std::make_unique<File>();
  file->path = std::move(path);
  file->text = text ? std::move(text) : std::make_shared<const std::string>();
  // The first line starts after a byte order mark, which no editor shows:
  // columns and quoted lines match what the user sees.
  const std::string& t = *file->text;
  const bool bom = t.compare(0, 3, "\xef\xbb\xbf") == 0;
  file->line_starts.push_back(bom ? 3 : 0);
  for (std::uint32_t i = 0; i < t.size(); ++i) {
    if (t[i] == '\n') file->line_starts.push_back(i + 1);
  }
  files_.push_back(std::move(file));
  return static_cast<FileId>(files_.size() - 1);
}

LineColumn SourceManager::line_column(FileId id, std::uint32_t offset) const {
  const File& file = *files_.at(id);
  offset = std::clamp<std::uint32_t>(offset, file.line_starts.front(), static_cast<std::uint32_t>(file.text->size()));
  auto it = std::upper_bound(file.line_starts.begin(), file.line_starts.end(), offset);
  const auto line_index = static_cast<std::uint32_t>(it - file.line_starts.begin() - 1);
  const std::uint32_t start = file.line_starts[line_index];
  std::uint32_t column = 1;
  for (std::uint32_t i = start; i < offset; ++i) {
    // Count code points: skip UTF-8 continuation bytes.
    if ((static_cast<unsigned char>((*file.text)[i]) & 0xC0) != 0x80) ++column;
  }
  return LineColumn{line_index + 1, column};
}

std::string_view SourceManager::line_text(FileId id, std::uint32_t line) const {
  const File& file = *files_.at(id);
  if (line == 0 || line > file.line_starts.size()) return {};
  const std::uint32_t start = file.line_starts[line - 1];
  std::uint32_t end =
      line < file.line_starts.size() ? file.line_starts[line] - 1 : static_cast<std::uint32_t>(file.text->size());
  if (end > start && (*file.text)[end - 1] == '\r') --end;
  return std::string_view(*file.text).substr(start, end - start);
}

std::string_view SourceManager::slice(SourceRange range) const {
  if (!range.valid()) return {};
  std::string_view t = text(range.file);
  if (range.begin > t.size()) return {};
  return t.substr(range.begin, std::min<std::size_t>(range.end, t.size()) - range.begin);
}

std::size_t find_invalid_utf8(std::string_view text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  std::size_t i = 0;
  while (i < n) {
    const unsigned char c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return i;
    }
    if (i + len > n) return i;
    for (std::size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    const bool overlong = (len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000);
    if (overlong || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += len;
  }
  return std::string_view::npos;
}

}  // namespace allot
