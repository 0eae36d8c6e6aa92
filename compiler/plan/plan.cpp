#include "compiler/plan/plan.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include "compiler/plan/sha256.h"

namespace allot::plan {

void fingerprint(Plan& plan, const std::vector<std::pair<std::string, std::string>>& files) {
  plan.sources.clear();
  std::string lines;
  for (const auto& [path, text] : files) {
    SourceFile f{path, sha256_hex(text)};
    lines += f.sha256 + "  " + f.path + "\n";
    plan.sources.push_back(std::move(f));
  }
  plan.source_sha256 = sha256_hex(lines);
}

std::optional<Homes> read_plan_homes(const std::string& text, const std::string& path, std::string& error) {
  toml::table root;
  try {
    root = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    error = fmt::format("{}:{}: {}", path, e.source().begin.line, std::string(e.description()));
    return std::nullopt;
  }
  const std::int64_t version = root["format_version"].value_or(std::int64_t{0});
  if (version != kFormatVersion) {
    error = fmt::format("{}: not a plan of format version {}", path, kFormatVersion);
    return std::nullopt;
  }
  Homes homes;
  const toml::array* nodes = root["placement"]["nodes"].as_array();
  if (!nodes) return homes;
  for (const toml::node& item : *nodes) {
    const toml::table* t = item.as_table();
    const std::optional<std::string> name = t ? (*t)["name"].value<std::string>() : std::nullopt;
    const toml::array* home = t ? (*t)["home"].as_array() : nullptr;
    if (!name || !home) {
      error = fmt::format("{}:{}: a placement node needs `name` and `home`", path, item.source().begin.line);
      return std::nullopt;
    }
    std::vector<std::string>& h = homes[*name];
    for (const toml::node& g : *home) h.push_back(g.value_or(std::string()));
  }
  return homes;
}

}  // namespace allot::plan
