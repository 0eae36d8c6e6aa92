// The local API's names for the JSON module (json/json.h): its value, strict
// parser and writer, under the names the runtime has used since before the
// module existed.
#pragma once

#include <cstddef>
#include <string_view>

#include "json/json.h"

namespace allot::api {

using Json = json::Value;
using JsonArray = json::Array;
using JsonObject = json::Object;
using JsonError = json::ParseError;
using JsonParseResult = json::ParseResult;

inline constexpr std::size_t kMaxJsonDepth = json::kMaxDepth;

inline JsonParseResult parse_json(std::string_view text) { return json::parse(text); }

}  // namespace allot::api
