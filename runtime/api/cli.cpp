#include "runtime/api/cli.h"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <sstream>

namespace allot::cli {
namespace {

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

bool is_option_word(const std::string& word) { return word.size() > 1 && word[0] == '-'; }

// The names an option is written with: `-o`, `--output`.
std::vector<std::string> spellings(const CLI::Option& option) {
  std::vector<std::string> names;
  for (const std::string& s : option.get_snames()) names.push_back("-" + s);
  for (const std::string& l : option.get_lnames()) names.push_back("--" + l);
  return names;
}

std::vector<std::string> option_spellings(const CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::Option* option : app.get_options()) {
    for (std::string& n : spellings(*option)) names.push_back(std::move(n));
  }
  return names;
}

std::vector<std::string> command_names(const CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    if (!sub->get_name().empty()) names.push_back(sub->get_name());
  }
  return names;
}

UsageError unknown(const std::string& what, const std::string& word, const std::vector<std::string>& candidates) {
  UsageError error{fmt::format("unknown {} `{}`", what, word), {}};
  if (const auto near = closest(word.substr(0, word.find('=')), candidates)) {
    error.help.push_back(fmt::format("did you mean `{}`", *near));
  }
  return error;
}

// CLI11's own messages, re-worded: "NAME: text" with the option's name.
UsageError reword(const CLI::ParseError& e) {
  const std::string what = e.what();
  const std::size_t colon = what.find(": ");
  const std::string name = colon == std::string::npos ? std::string() : what.substr(0, colon);
  if (dynamic_cast<const CLI::ArgumentMismatch*>(&e) && !name.empty()) {
    return UsageError{fmt::format("`{}` needs a value", name), {}};
  }
  if (dynamic_cast<const CLI::ValidationError*>(&e) && colon != std::string::npos) {
    return UsageError{what.substr(colon + 2), {}};
  }
  std::string text = what;
  if (!text.empty()) text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
  while (!text.empty() && (text.back() == '.' || text.back() == '\n')) text.pop_back();
  return UsageError{text, {}};
}

// Wraps `text` to `width` columns, each line after the first indented by
// `indent` spaces; explicit newlines are kept.
std::string wrap(const std::string& text, std::size_t indent, std::size_t width) {
  std::string out;
  std::size_t column = indent;
  std::istringstream lines(text);
  std::string line;
  bool first_line = true;
  while (std::getline(lines, line)) {
    if (!first_line) {
      out += "\n" + std::string(indent, ' ');
      column = indent;
    }
    first_line = false;
    std::istringstream words(line);
    std::string word;
    bool first_word = true;
    while (words >> word) {
      if (!first_word && column + 1 + word.size() > width) {
        out += "\n" + std::string(indent, ' ');
        column = indent;
      } else if (!first_word) {
        out += ' ';
        ++column;
      }
      out += word;
      column += word.size();
      first_word = false;
    }
  }
  return out;
}

// `NAME DESCRIPTION` in two columns; a long name puts the description on
// the next line.
std::string two_columns(const std::string& name, const std::string& description) {
  constexpr std::size_t kColumn = 22;
  std::string out = "  " + name;
  if (description.empty()) return out + "\n";
  if (out.size() + 2 > kColumn) {
    out += "\n" + std::string(kColumn, ' ');
  } else {
    out += std::string(kColumn - out.size(), ' ');
  }
  return out + wrap(description, kColumn, 80) + "\n";
}

std::string full_name(const CLI::App& app) {
  std::string name = app.get_name();
  for (const CLI::App* p = app.get_parent(); p; p = p->get_parent()) name = p->get_name() + " " + name;
  return name;
}

// `check [options] FILE|DIR...`
std::string synopsis(const CLI::App& app) {
  std::string out = app.get_name();
  const auto options = app.get_options([](const CLI::Option* o) { return !o->get_positional(); });
  if (options.size() > 1) out += " [options]";  // more than `--help`
  for (const CLI::Option* o : app.get_options([](const CLI::Option* o) { return o->get_positional(); })) {
    out += " " + o->get_type_name();  // `FILE...` where it takes many
  }
  if (app.get_prefix_command()) out += " -- CMD...";
  return out;
}

std::string option_name(const CLI::Option& o) {
  std::string names;
  for (const std::string& s : spellings(o)) names += (names.empty() ? "" : ", ") + s;
  const std::string type = o.get_type_name();
  if (!type.empty() && o.get_items_expected_max() > 0) names += " " + type;
  return names;
}

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

// The values an option's type name lists (`text|json|sarif`), or none when
// it names a kind of value (`FILE`, `N`).
std::vector<std::string> choices(const CLI::Option& o) {
  const std::string type = o.get_type_name();
  if (type.find('|') == std::string::npos) return {};
  if (std::any_of(type.begin(), type.end(), [](char c) { return std::isupper(static_cast<unsigned char>(c)); })) {
    return {};
  }
  std::vector<std::string> values;
  std::istringstream s(type);
  std::string v;
  while (std::getline(s, v, '|')) values.push_back(v);
  return values;
}

std::string bash_word(const std::string& program) {
  std::string out;
  for (char c : program) out += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return out;
}

std::string zsh_quote(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\'') {
      out += "'\\''";
    } else if (c == '[' || c == ']' || c == ':') {
      out += '\\';
      out += c;
    } else {
      out += c;
    }
  }
  return out;
}

std::vector<const CLI::App*> subcommands(const CLI::App& app) {
  return app.get_subcommands([](const CLI::App* s) { return !s->get_name().empty(); });
}

std::string bash_script(const CLI::App& app, const std::string& program) {
  const std::string fn = "_" + bash_word(program);
  std::string commands;
  for (const CLI::App* sub : subcommands(app)) commands += (commands.empty() ? "" : " ") + sub->get_name();
  std::string out = fmt::format(
      "# bash completion for `{0}`, generated by `{0} completion bash`\n"
      "{1}() {{\n"
      "  local cur=${{COMP_WORDS[COMP_CWORD]}} prev=${{COMP_WORDS[COMP_CWORD-1]}} opts=\n"
      "  if [ \"$COMP_CWORD\" -eq 1 ]; then\n"
      "    COMPREPLY=($(compgen -W \"{2}\" -- \"$cur\"))\n"
      "    return\n"
      "  fi\n"
      "  case \"${{COMP_WORDS[1]}}\" in\n",
      program, fn, commands);
  for (const CLI::App* sub : subcommands(app)) {
    std::string options, values;
    for (const CLI::Option* o : sub->get_options([](const CLI::Option* x) { return !x->get_positional(); })) {
      for (const std::string& n : spellings(*o)) options += (options.empty() ? "" : " ") + n;
      const std::vector<std::string> c = choices(*o);
      if (c.empty()) continue;
      std::string names, words;
      for (const std::string& n : spellings(*o)) names += (names.empty() ? "" : "|") + n;
      for (const std::string& w : c) words += (words.empty() ? "" : " ") + w;
      values += fmt::format("        {}) COMPREPLY=($(compgen -W \"{}\" -- \"$cur\")); return ;;\n", names, words);
    }
    out += fmt::format("    {})\n      opts=\"{}\"\n", sub->get_name(), options);
    if (!values.empty()) out += "      case \"$prev\" in\n" + values + "      esac\n";
    out += "      ;;\n";
  }
  out += fmt::format(
      "  esac\n"
      "  if [[ \"$cur\" == -* ]]; then\n"
      "    COMPREPLY=($(compgen -W \"$opts\" -- \"$cur\"))\n"
      "  else\n"
      "    COMPREPLY=($(compgen -f -- \"$cur\"))\n"
      "  fi\n"
      "}}\n"
      "complete -o filenames -F {} {}\n",
      fn, program);
  return out;
}

std::string zsh_script(const CLI::App& app, const std::string& program) {
  const std::string fn = "_" + bash_word(program);
  std::string out = fmt::format(
      "#compdef {0}\n"
      "# zsh completion for `{0}`, generated by `{0} completion zsh`\n"
      "{1}() {{\n"
      "  local -a commands\n"
      "  commands=(\n",
      program, fn);
  for (const CLI::App* sub : subcommands(app)) {
    out += fmt::format("    '{}:{}'\n", sub->get_name(), zsh_quote(first_line(sub->get_description())));
  }
  out +=
      "  )\n"
      "  if (( CURRENT == 2 )); then\n"
      "    _describe 'command' commands\n"
      "    return\n"
      "  fi\n"
      "  case $words[2] in\n";
  for (const CLI::App* sub : subcommands(app)) {
    out += fmt::format("    {})\n      _arguments -s \\\n", sub->get_name());
    for (const CLI::Option* o : sub->get_options([](const CLI::Option* x) { return !x->get_positional(); })) {
      const std::string description = zsh_quote(first_line(o->get_description()));
      std::string value;
      if (o->get_items_expected_max() > 0) {
        const std::vector<std::string> c = choices(*o);
        std::string words;
        for (const std::string& w : c) words += (words.empty() ? "" : " ") + w;
        value = c.empty() ? ":value:_files" : fmt::format(":value:({})", words);
      }
      for (const std::string& n : spellings(*o)) {
        const bool repeatable = o->get_multi_option_policy() == CLI::MultiOptionPolicy::TakeAll;
        out += fmt::format("        '{}{}[{}]{}' \\\n", repeatable ? "*" : "", n, description, value);
      }
    }
    out += "        '*:file:_files'\n      ;;\n";
  }
  out += fmt::format(
      "  esac\n"
      "}}\n"
      "{} \"$@\"\n",
      fn);
  return out;
}

}  // namespace

std::optional<std::string> closest(const std::string& word, const std::vector<std::string>& candidates) {
  const std::size_t budget = std::max<std::size_t>(1, word.size() / 3);
  std::optional<std::string> best;
  std::size_t best_distance = budget + 1;
  for (const std::string& candidate : candidates) {
    const std::size_t d = edit_distance(word, candidate);
    if (d < best_distance || (d == best_distance && best && candidate < *best)) {
      best = candidate;
      best_distance = d;
    }
  }
  if (best_distance > budget) return std::nullopt;
  return best;
}

CLI::Option* check(CLI::Option* option, Check accept) {
  option->check(CLI::Validator(
      [accept = std::move(accept)](std::string& value) { return accept(value).value_or(std::string()); }, ""));
  return option;
}

Check one_of(std::vector<std::string> values, std::string what) {
  return [values = std::move(values), what = std::move(what)](const std::string& v) -> std::optional<std::string> {
    if (std::find(values.begin(), values.end(), v) != values.end()) return std::nullopt;
    std::string list;
    for (std::size_t i = 0; i < values.size(); ++i) {
      list += (i == 0 ? "" : i + 1 == values.size() ? " or " : ", ") + values[i];
    }
    return fmt::format("unknown {} `{}`: {}", what, v, list);
  };
}

Check positive_count(std::string message) {
  return [message = std::move(message)](const std::string& v) -> std::optional<std::string> {
    if (v.empty() || v.size() > 9 || v.find_first_not_of("0123456789") != std::string::npos ||
        v.find_first_not_of('0') == std::string::npos) {
      return message;
    }
    return std::nullopt;
  };
}

tl::expected<Parsed, UsageError> parse(CLI::App& app, const std::vector<std::string>& args) {
  CLI::App* sub = nullptr;
  if (!args.empty() && !is_option_word(args[0])) {
    for (CLI::App* candidate : app.get_subcommands([](CLI::App*) { return true; })) {
      if (!candidate->get_name().empty() && candidate->check_name(args[0])) sub = candidate;
    }
  }
  const bool prefix = sub ? sub->get_prefix_command() : app.get_prefix_command();
  // Unknown words come back as `remaining()`, re-worded below.
  app.allow_extras();
  for (CLI::App* each : app.get_subcommands([](CLI::App*) { return true; })) each->allow_extras();
  Parsed parsed;
  // CLI11 hands what follows `--` in a subcommand back to its parent; the
  // caller takes it instead.
  std::vector<std::string> words = args;
  std::optional<std::vector<std::string>> after_mark;
  if (const auto mark = std::find(words.begin(), words.end(), "--"); mark != words.end()) {
    after_mark.emplace(mark + 1, words.end());
    words.erase(mark, words.end());
  }
  std::reverse(words.begin(), words.end());
  try {
    app.parse(words);
  } catch (const CLI::CallForHelp&) {
    parsed.help = true;
  } catch (const CLI::CallForAllHelp&) {
    parsed.help = true;
  } catch (const CLI::ParseError& e) {
    return tl::unexpected(reword(e));
  }
  if (sub && sub->parsed()) parsed.command = sub;
  if (parsed.help) return parsed;
  CLI::App& where = parsed.command ? *parsed.command : app;
  std::vector<std::string> extra = where.remaining();
  if (parsed.command) {
    const std::vector<std::string> above = app.remaining();
    extra.insert(extra.end(), above.begin(), above.end());
  }
  if (prefix && !extra.empty()) {
    // The command started before `--`: the mark is its own.
    if (is_option_word(extra[0])) return tl::unexpected(unknown("option", extra[0], option_spellings(where)));
    parsed.rest = std::move(extra);
    extra.clear();
    if (after_mark) {
      parsed.rest.push_back("--");
      parsed.rest.insert(parsed.rest.end(), after_mark->begin(), after_mark->end());
    }
  } else if (after_mark) {
    parsed.rest = std::move(*after_mark);
  }
  if (extra.empty()) return parsed;
  const std::string& word = extra[0];
  if (is_option_word(word)) return tl::unexpected(unknown("option", word, option_spellings(where)));
  if (!parsed.command && !command_names(app).empty()) {
    return tl::unexpected(unknown("command", word, command_names(app)));
  }
  return tl::unexpected(UsageError{parsed.command
                                       ? fmt::format("`{}` takes no argument `{}`", parsed.command->get_name(), word)
                                       : fmt::format("unexpected argument `{}`", word),
                                   {}});
}

std::string help_text(const CLI::App& app, const std::string& program) {
  std::string out;
  const std::vector<const CLI::App*> subs = subcommands(app);
  if (!subs.empty()) {
    out += fmt::format("usage: {} <command> [options]\n", program);
    if (!app.get_description().empty()) out += "\n" + wrap(app.get_description(), 0, 80) + "\n";
    out += "\ncommands:\n";
    for (const CLI::App* sub : subs) out += two_columns(synopsis(*sub), sub->get_description());
  } else {
    const std::string name = app.get_parent() ? full_name(app) : program;
    std::string usage = synopsis(app);
    usage = usage.substr(app.get_name().size());
    out += fmt::format("usage: {}{}\n", name, usage);
    if (!app.get_description().empty()) out += "\n" + wrap(app.get_description(), 0, 80) + "\n";
    const auto options = app.get_options([](const CLI::Option* o) { return !o->get_positional(); });
    if (!options.empty()) {
      out += "\noptions:\n";
      for (const CLI::Option* o : options) out += two_columns(option_name(*o), o->get_description());
    }
  }
  if (!app.get_footer().empty()) out += "\n" + app.get_footer() + (app.get_footer().back() == '\n' ? "" : "\n");
  return out;
}

std::optional<std::string> completion_script(const CLI::App& app, const std::string& program,
                                             const std::string& shell) {
  if (shell == "bash") return bash_script(app, program);
  if (shell == "zsh") return zsh_script(app, program);
  return std::nullopt;
}

}  // namespace allot::cli
