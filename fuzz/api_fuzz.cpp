// allotd's request parser: one request line. A request that parses must
// survive a round trip through the encoder unchanged.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "json/json.h"
#include "runtime/api/protocol.h"

using namespace allot;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  // The JSON layer alone: what parses dumps to text that parses to the same.
  const json::ParseResult parsed_json = json::parse(line);
  if (const auto* j = std::get_if<json::Value>(&parsed_json)) {
    const std::string once = j->dump();
    const json::ParseResult again = json::parse(once);
    if (!std::holds_alternative<json::Value>(again) || std::get<json::Value>(again).dump() != once) __builtin_trap();
  }
  // The escaper: any bytes quote to a string that parses back to them,
  // unless invalid UTF-8 was replaced by U+FFFD.
  const json::ParseResult quoted = json::parse(json::quote(line));
  const std::string* text =
      std::holds_alternative<json::Value>(quoted) ? std::get<json::Value>(quoted).as_string() : nullptr;
  if (!text || (*text != line && text->find("\xef\xbf\xbd") == std::string::npos)) __builtin_trap();
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
