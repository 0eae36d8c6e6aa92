// Rendering a PolicyDiff: text for a terminal (optionally coloured), JSON for
// tools and Markdown for a pull-request comment. Deterministic for the same
// diff; names and users pass through emit::escape_controls.
#pragma once

#include <string>

#include "compiler/diff/diff.h"

namespace allot::diff {

struct RenderOptions {
  std::string old_name, new_name;  // how the two sides were given (`HEAD~1`, `old.allot`)
  bool color = false;              // text only
};

std::string render_text(const PolicyDiff& diff, const RenderOptions& options);
std::string render_json(const PolicyDiff& diff, const RenderOptions& options);
std::string render_markdown(const PolicyDiff& diff, const RenderOptions& options);

// `stricter for `Quota1_2`, looser for `Quota1_1``, or `no semantic change`.
std::string summary(const PolicyDiff& diff);

}  // namespace allot::diff
