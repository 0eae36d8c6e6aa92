// The JSON module (json/json.h): the strict parser the local API and the
// journal read with, and the writers every JSON output comes from.
#include "json/json.h"

#include <catch2/catch.hpp>
#include <string>
#include <variant>

using namespace allot;

namespace {

bool parses(std::string_view text) { return std::holds_alternative<json::Value>(json::parse(text)); }

json::ParseError error_of(std::string_view text) {
  const json::ParseResult r = json::parse(text);
  REQUIRE(std::holds_alternative<json::ParseError>(r));
  return std::get<json::ParseError>(r);
}

}  // namespace

TEST_CASE("json: well-formed documents parse") {
  json::ParseResult r = json::parse(R"( {"a": [1, -2.5e3, true, false, null], "b": "x\u00e9\ud83d\ude00\n"} )");
  REQUIRE(std::holds_alternative<json::Value>(r));
  const json::Value& j = std::get<json::Value>(r);
  CHECK(j.find("a")->as_array()->size() == 5);
  CHECK(j.find("a")->as_array()->at(0).as_int() == 1);
  CHECK(j.find("a")->as_array()->at(1).as_number() == -2500.0);
  CHECK(*j.find("b")->as_string() == "x\xc3\xa9\xf0\x9f\x98\x80\n");
  CHECK(j.dump() == R"({"a":[1,-2500,true,false,null],"b":"x)"
                    "\xc3\xa9\xf0\x9f\x98\x80"
                    R"(\n"})");
}

TEST_CASE("json: malformed input is an error with an offset, never a crash") {
  const char* bad[] = {
      "",
      "   ",
      "{",
      "}",
      "[1,]",
      "{\"a\":1,}",
      "{\"a\" 1}",
      "{a:1}",
      "{\"a\":1 \"b\":2}",
      "[01]",
      "[1.]",
      "[.5]",
      "[1e]",
      "[-]",
      "[+1]",
      "[NaN]",
      "[Infinity]",
      "[1e999]",
      "[-1e999]",
      "\"unterminated",
      "\"bad escape \\x\"",
      "\"\\u12\"",
      "\"\\ud800\"",
      "\"\\udc00\"",
      "\"\\ud800\\u0041\"",
      "\"tab\there\"",
      "\"\xff\"",
      "\"\xc0\x80\"",
      "\"\xe0\x80\xaf\"",
      "\"\xed\xa0\x80\"",
      "\"\xf4\x90\x80\x80\"",
      "\"\xc3\"",
      "\xef\xbb\xbf{}",
      "tru",
      "nul",
      "[1] [2]",
      "{\"a\":1,\"a\":2}",
      "{\"a\":{\"b\":1,\"b\":2}}",
      "// comment\n{}",
      "/* comment */ {}",
      "\f{}",
  };
  for (const char* text : bad) {
    INFO(text);
    CHECK(!parses(text));
  }
  CHECK(!parses(std::string("[1]\0", 4)));
  CHECK(!parses(std::string("\"a\0b\"", 5)));
  CHECK(error_of(std::string("[1] \0", 5)).offset == 4);
}

TEST_CASE("json: errors say what and where") {
  const json::ParseError dup = error_of(R"({"a":1,"b":2,"a":3})");
  CHECK(dup.message == "duplicate key `a`");
  CHECK(dup.offset >= 13);
  CHECK(dup.offset <= 16);
  const json::ParseError lit = error_of("[true, tru]");
  CHECK(lit.message.find("invalid literal") != std::string::npos);
  CHECK(lit.message.rfind("[json.exception", 0) == std::string::npos);
  CHECK(lit.offset >= 7);
  CHECK(lit.offset <= 10);
  CHECK(error_of("\xef\xbb\xbf[]").offset == 0);
  // The same key in sibling objects is no duplicate.
  CHECK(parses(R"([{"a":1},{"a":2}])"));
  CHECK(parses(R"({"a":{"a":1}})"));
}

TEST_CASE("json: nesting is bounded") {
  const std::string deep_ok = std::string(json::kMaxDepth, '[') + std::string(json::kMaxDepth, ']');
  CHECK(parses(deep_ok));
  const std::string one_more = std::string(json::kMaxDepth + 1, '[') + std::string(json::kMaxDepth + 1, ']');
  CHECK(!parses(one_more));
  // A scalar counts as a level, as a container does.
  CHECK(parses(std::string(json::kMaxDepth - 1, '[') + "1" + std::string(json::kMaxDepth - 1, ']')));
  CHECK(!parses(std::string(json::kMaxDepth, '[') + "1" + std::string(json::kMaxDepth, ']')));
  const std::string too_deep = std::string(100000, '[') + std::string(100000, ']');
  const json::ParseError e = error_of(too_deep);
  CHECK(e.message.find("nesting") != std::string::npos);
  CHECK(e.offset == json::kMaxDepth);
  std::string objects;
  for (std::size_t i = 0; i < 100000; ++i) objects += "{\"a\":";
  CHECK(error_of(objects).message.find("nesting") != std::string::npos);
}

TEST_CASE("json: integers are exact in the int64 range, doubles outside it") {
  const json::Value v = std::get<json::Value>(
      json::parse("[9223372036854775807,-9223372036854775808,9223372036854775808,-9223372036854775809,"
                  "18446744073709551616,1.0,1e2]"));
  const json::Array& a = *v.as_array();
  CHECK(std::holds_alternative<std::int64_t>(a[0].value()));
  CHECK(*a[0].as_int() == INT64_MAX);
  CHECK(std::holds_alternative<std::int64_t>(a[1].value()));
  CHECK(*a[1].as_int() == INT64_MIN);
  for (std::size_t i = 2; i < 5; ++i) {
    INFO(i);
    CHECK(std::holds_alternative<double>(a[i].value()));
    CHECK(!a[i].as_int());
  }
  CHECK(std::holds_alternative<double>(a[5].value()));
  CHECK(a[5].as_int() == 1);
  CHECK(a[6].as_int() == 100);
  CHECK(v.dump() ==
        "[9223372036854775807,-9223372036854775808,9.223372036854776e+18,-9223372036854775808,"
        "1.8446744073709552e+19,1,100]");  // -2^63-1 rounds to the double -2^63, an integer
}

TEST_CASE("json: strings round trip through the writer") {
  const std::string text = std::string("quote\" backslash\\ ctl\x01 nl\n del\x7f utf8 \xc3\xa9");
  json::Value j(text);
  const json::ParseResult r = json::parse(j.dump());
  REQUIRE(std::holds_alternative<json::Value>(r));
  CHECK(*std::get<json::Value>(r).as_string() == text);
}

TEST_CASE("json: escaping is one function, valid in TOML and YAML strings too") {
  CHECK(json::quote("a\"b\\c") == R"("a\"b\\c")");
  CHECK(json::escape("\n\r\t\x01\x1f\x7f") == R"(\n\r\t\u0001\u001f\u007f)");
  CHECK(json::escape("caf\xc3\xa9") == "caf\xc3\xa9");
  // Invalid UTF-8 never reaches the output as such.
  CHECK(json::escape("a\xff"
                     "b") ==
        "a\xef\xbf\xbd"
        "b");
  CHECK(json::escape(std::string("a\0b", 3)) == R"(a\u0000b)");
}

TEST_CASE("json: the writer's layout") {
  json::Writer pretty;
  pretty.begin_object();
  pretty.key("name").value("x");
  pretty.key("items").begin_array().value(1).value(true).null().end_array();
  pretty.key("empty").begin_object().end_object();
  pretty.key("none").begin_array().end_array();
  pretty.end_object();
  CHECK(pretty.str() ==
        "{\n  \"name\": \"x\",\n  \"items\": [\n    1,\n    true,\n    null\n  ],\n  \"empty\": {},\n"
        "  \"none\": []\n}\n");
  json::Writer twice(false);
  twice.begin_object().key("a").value(1).key("b").value(2).key("a").value(3).end_object();
  CHECK(twice.str() == R"({"a":3,"b":2})");
  json::Writer compact(false);
  compact.begin_array().begin_object().key("a\"").value(std::int64_t{-3}).end_object().value("\x7f").end_array();
  CHECK(compact.str() == R"([{"a\"":-3},"\u007f"])");
}
