#include "compiler/base/codes.h"

#include <array>

namespace allot {
namespace {

constexpr std::array kCodes{
#define ALLOT_CODE(id, severity, title) CodeInfo{#id, Severity::severity, title},
#include "compiler/base/codes.def"
#undef ALLOT_CODE
};

}  // namespace

std::span<const CodeInfo> all_codes() { return kCodes; }

const CodeInfo* find_code(std::string_view code) {
  for (const CodeInfo& c : kCodes) {
    if (c.code == code) return &c;
  }
  return nullptr;
}

}  // namespace allot
