// Command-line parsing shared by `allot` and `allotd`, on CLI11: one call
// parses, re-words CLI11's errors in the house style (lower case, names in
// backticks, "did you mean" for misspelt commands and options), and writes
// help and shell completions from the same definitions.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <tl/expected.hpp>
#include <vector>

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace allot::cli {

// A command line that does not parse. Printed as `PROGRAM: message`, then
// each help line as `help: ...`.
struct UsageError {
  std::string message;
  std::vector<std::string> help;
};

struct Parsed {
  CLI::App* command = nullptr;  // the subcommand given; null: none
  bool help = false;            // `-h`/`--help` was given (for `command` when set)
  // What follows `--` (or, for a prefix command such as `submit`, its first
  // argument that is not an option, and everything after it).
  std::vector<std::string> rest;
};

// `args` excludes the program name. Every subcommand may take `--opt=value`
// and `--opt value` alike.
tl::expected<Parsed, UsageError> parse(CLI::App& app, const std::vector<std::string>& args);

// A validator for `Option::check`: `accept(value)` returns an error message
// (house style, without the option's name) or nothing.
using Check = std::function<std::optional<std::string>(const std::string&)>;
CLI::Option* check(CLI::Option* option, Check accept);

// Checks for common value shapes. The messages name `what`.
Check one_of(std::vector<std::string> values, std::string what);
Check positive_count(std::string message);  // 1..999999999

// The help of `app` (its description, its subcommands with their synopses,
// or its options), from the definitions alone.
std::string help_text(const CLI::App& app, const std::string& program);

// Completion scripts for `program`: its subcommands and each one's options.
// `shell` is bash or zsh; nothing for another shell.
std::optional<std::string> completion_script(const CLI::App& app, const std::string& program, const std::string& shell);

// The candidate closest to `word` by edit distance (about one edit per three
// characters), or nothing.
std::optional<std::string> closest(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace allot::cli
