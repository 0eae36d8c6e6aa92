// allotd's request parser: one request line. A request that parses must
// survive a round trip through the encoder unchanged.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "runtime/api/json.h"
#include "runtime/api/protocol.h"

using namespace allot;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  // The JSON layer alone: what parses dumps to text that parses to the same.
  const api::JsonParseResult json = api::parse_json(line);
  if (const auto* j = std::get_if<api::Json>(&json)) {
    const std::string once = j->dump();
    const api::JsonParseResult again = api::parse_json(once);
    if (!std::holds_alternative<api::Json>(again) || std::get<api::Json>(again).dump() != once) __builtin_trap();
  }
  const std::variant<api::Request, api::ApiError> parsed = api::parse_request_line(line);
  if (const auto* request = std::get_if<api::Request>(&parsed)) {
    const std::string encoded = api::encode_request(*request).dump();
    const std::variant<api::Request, api::ApiError> back = api::parse_request_line(encoded);
    if (!std::holds_alternative<api::Request>(back)) __builtin_trap();
    if (api::encode_request(std::get<api::Request>(back)).dump() != encoded) __builtin_trap();
  } else {
    (void)api::error_reply(std::get<api::ApiError>(parsed));
  }
  (void)api::parse_milli(line);
  (void)api::parse_memory_mib(line);
  return 0;
}
