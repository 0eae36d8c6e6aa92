// The compiler's names for the JSON module's writer (json/json.h), shared by
// every machine-readable format.
#pragma once

#include <string>
#include <string_view>

#include "json/json.h"

namespace allot::emit {

using JsonWriter = json::Writer;

inline std::string json_escape(std::string_view text) { return json::escape(text); }

}  // namespace allot::emit
