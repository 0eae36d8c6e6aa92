#include "compiler/lsp/features.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "compiler/lsp/vocabulary.h"
#include "compiler/sema/model_queries.h"
#include "compiler/syntax/lexer.h"

namespace allot::lsp {
namespace {

using syntax::Lexeme;
using syntax::TokenKind;

// A token that may be a name: an identifier or a keyword (`word` in the grammar).
bool is_word(TokenKind k) {
  switch (k) {
    case TokenKind::ident:
    case TokenKind::import_kw:
    case TokenKind::assert_kw:
    case TokenKind::on_kw:
    case TokenKind::as_kw:
    case TokenKind::and_kw:
    case TokenKind::or_kw:
    case TokenKind::not_kw:
    case TokenKind::x_kw:
      return true;
    default:
      return false;
  }
}

bool ends_value(TokenKind k) {
  return is_word(k) || k == TokenKind::number || k == TokenKind::string || k == TokenKind::rbrack ||
         k == TokenKind::rbrace || k == TokenKind::rparen;
}

std::string_view spelling(std::string_view text, const Lexeme& t) { return text.substr(t.begin, t.end - t.begin); }

struct Frame {
  bool list = false;
  bool object = false;
  std::string kind, key, tag;
  std::vector<Lexeme> statement;
};

bool is_scope_kind(std::string_view kind) {
  return kind == "quota" || kind == "workspace" || kind == "namespace" || kind == "queue";
}

// The kinds a name at `context` may refer to; empty: any.
std::vector<std::string_view> kinds_for(const Context& c) {
  switch (c.where) {
    case Context::Where::value:
    case Context::Where::list:
      return referenced_kinds(c.key);
    case Context::Where::target:
      return target_kinds(c.kind);
    case Context::Where::flavor:
      return {"flavor"};
    case Context::Where::expression:
      return {"quota", "workspace", "namespace", "queue"};
    default:
      return {};
  }
}

bool contains(SourceRange r, FileId file, std::uint32_t offset) {
  return r.valid() && r.file == file && r.begin <= offset && offset <= r.end;
}

// The symbols `word` names at `offset`: the declaration it is the name of,
// else the declarations of that name of the kinds its context refers to
// (any kind when none fits).
std::vector<const Symbol*> resolve(const Analysis& a, std::string_view text, const Word& word) {
  std::vector<const Symbol*> out;
  if (word.text.empty()) return out;
  for (const Symbol& s : a.symbols) {
    if (!a.symbols_from_earlier && contains(s.name_range, a.main, word.begin) && s.name == word.text) return {&s};
  }
  const std::vector<std::string_view> wanted = kinds_for(context_at(text, word.begin));
  std::vector<const Symbol*> any;
  for (const Symbol& s : a.symbols) {
    if (s.name != word.text) continue;
    if (a.symbols_from_earlier && s.name_range.file == a.main) continue;  // positions from an older text
    any.push_back(&s);
    if (std::find(wanted.begin(), wanted.end(), s.kind) != wanted.end()) out.push_back(&s);
  }
  return out.empty() ? any : out;
}

std::string where_declared(const Analysis& a, const Symbol& s) {
  if (!s.name_range.valid() || s.name_range.file >= a.sources.file_count()) return "";
  const LineColumn lc = a.sources.line_column(s.name_range.file, s.name_range.begin);
  return fmt::format("declared in `{}`, line {}", a.sources.path(s.name_range.file), lc.line);
}

std::string scope_hover(const model::Policy& policy, model::Index scope) {
  const model::Scope& s = policy.scopes[scope];
  std::string out = fmt::format("**{}** `{}`", model::to_string(s.kind), s.path);
  if (s.pool != model::kNone && s.pool < policy.pools.size())
    out += fmt::format(" in pool `{}`", policy.pools[s.pool].name);
  if (s.parent != model::kNone) out += fmt::format("\n\nparent: `{}`", policy.scopes[s.parent].path);
  std::vector<model::Index> shown;
  for (model::Index r = 0; r < policy.resources.size(); ++r) {
    bool bounded = false;
    for (model::Index up = scope; up != model::kNone && !bounded; up = policy.scopes[up].parent) {
      bounded = model::bound_of(policy, up, r) != nullptr;
    }
    if (bounded) shown.push_back(r);
  }
  if (shown.empty()) shown.push_back(model::kGpu);
  out += "\n\n| resource | guarantee | limit |\n|---|---|---|\n";
  for (const model::Index r : shown) {
    const std::optional<model::Amount> limit = model::effective_limit(policy, scope, r);
    // Where the limit comes from, as effective_limit finds it.
    std::string origin = "unbounded";
    for (model::Index up = scope; up != model::kNone; up = policy.scopes[up].parent) {
      const model::Bound* b = model::bound_of(policy, up, r);
      if (b && b->limit) {
        origin = up == scope ? "" : fmt::format(" (from `{}`)", policy.scopes[up].path);
        break;
      }
      if (policy.scopes[up].parent == model::kNone) origin = limit ? " (the pool's capacity)" : " (unbounded)";
    }
    out += fmt::format("| {} | {} | {}{} |\n", model::resource_name(policy, r),
                       model::format_quantity(policy, r, model::guarantee_of(policy, scope, r)),
                       limit ? model::format_quantity(policy, r, *limit) : "none", limit ? origin : "");
  }
  return out;
}

std::string pool_hover(const model::Policy& policy, model::Index pool) {
  const model::Pool& p = policy.pools[pool];
  std::string out =
      fmt::format("**pool** `{}` ({})", p.name, p.type == model::PoolType::shared ? "shared" : "dedicated");
  std::string rows;
  for (model::Index r = 0; r < policy.resources.size(); ++r) {
    const model::Capacity c = model::pool_capacity(policy, pool, r);
    if (!c.known) continue;
    rows += fmt::format("| {} | {} |\n", model::resource_name(policy, r),
                        c.unbounded ? std::string("unbounded") : model::format_quantity(policy, r, c.amount));
  }
  if (!rows.empty()) out += "\n\n| resource | capacity |\n|---|---|\n" + rows;
  return out;
}

json::Value completion_item(std::string_view label, int kind, std::string_view detail) {
  json::Value item = json::Object{{"label", label}, {"kind", kind}};
  if (!detail.empty()) item.set("detail", detail);
  return item;
}

// LSP CompletionItemKind values.
constexpr int kProperty = 10, kValue = 12, kKeyword = 14, kReference = 18, kEnumMember = 20;

}  // namespace

Context context_at(std::string_view text, std::uint32_t offset) {
  offset = std::min<std::uint32_t>(offset, static_cast<std::uint32_t>(text.size()));
  const std::vector<Lexeme> tokens = syntax::lex(text);
  Context c;
  c.word_begin = offset;
  std::vector<Frame> frames(1);
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const Lexeme& t = tokens[i];
    if (t.kind == TokenKind::end_of_file || t.begin >= offset) break;
    if (t.end >= offset && is_word(t.kind)) {  // the word being typed
      c.word_begin = t.begin;
      break;
    }
    if (t.kind == TokenKind::string || t.kind == TokenKind::unterminated_string) {
      if (t.end >= offset) return Context{Context::Where::none, "", "", "", offset};  // inside a string
    }
    Frame& f = frames.back();
    std::vector<Lexeme>& st = f.statement;
    const auto has_eq = [&] {
      return std::any_of(st.begin(), st.end(), [](const Lexeme& l) { return l.kind == TokenKind::eq; });
    };
    switch (t.kind) {
      case TokenKind::lbrace: {
        Frame inner;
        if (f.list) {
          inner.object = true;
          inner.key = f.key;
        } else if (has_eq()) {
          inner.object = true;
          inner.key = st.empty() ? "" : std::string(spelling(text, st[0]));
          if (st.size() >= 3 && st[1].kind == TokenKind::eq && is_word(st[2].kind)) {
            inner.tag = std::string(spelling(text, st[2]));
          }
        } else if (!st.empty() && is_word(st[0].kind)) {
          inner.kind = std::string(spelling(text, st[0]));
        }
        frames.push_back(std::move(inner));
        continue;
      }
      case TokenKind::rbrace:
        if (frames.size() > 1) frames.pop_back();
        if (!frames.back().list) frames.back().statement.clear();
        continue;
      case TokenKind::lbrack: {
        Frame inner;
        inner.list = true;
        inner.key = f.list ? f.key : (st.empty() ? "" : std::string(spelling(text, st[0])));
        frames.push_back(std::move(inner));
        continue;
      }
      case TokenKind::rbrack:
        if (frames.size() > 1 && frames.back().list) frames.pop_back();
        continue;
      case TokenKind::sep:
        st.clear();
        continue;
      default:
        break;
    }
    // A new line starts a new member after a complete value, or when it
    // reads `key =` (the member before it is unfinished).
    if (!f.list && !st.empty() && t.line > st.back().line) {
      const TokenKind last = st.back().kind;
      const bool after_value = ends_value(last) && last != TokenKind::x_kw && last != TokenKind::on_kw;
      const bool starts_property = is_word(t.kind) && i + 1 < tokens.size() && tokens[i + 1].kind == TokenKind::eq;
      if (after_value || starts_property) st.clear();
    }
    st.push_back(t);
  }
  const Frame& f = frames.back();
  const std::vector<Lexeme>& st = f.statement;
  const auto word = [&](std::size_t i) {
    return i < st.size() && is_word(st[i].kind) ? std::string(spelling(text, st[i])) : "";
  };
  if (f.list) {
    c.where = Context::Where::list;
    c.key = f.key;
    return c;
  }
  if (!st.empty() && st[0].kind == TokenKind::assert_kw) {
    c.where = Context::Where::expression;
    return c;
  }
  if (st.empty()) {
    c.where = f.object ? Context::Where::object : f.kind.empty() ? Context::Where::top : Context::Where::body;
    c.kind = f.kind;
    c.key = f.key;
    c.tag = f.tag;
    return c;
  }
  if (st.size() == 2 && st[1].kind == TokenKind::eq && is_word(st[0].kind)) {
    c.where = Context::Where::value;
    c.key = word(0);
    return c;
  }
  if (st.size() == 4 && st[1].kind == TokenKind::eq && st[2].kind == TokenKind::number &&
      st[3].kind == TokenKind::x_kw) {
    c.where = Context::Where::flavor;
    c.key = word(0);
    return c;
  }
  if (st.size() == 3 && st[2].kind == TokenKind::on_kw) {
    c.where = Context::Where::target;
    c.kind = word(0);
    return c;
  }
  return c;
}

Word word_at(std::string_view text, std::uint32_t offset) {
  for (const Lexeme& t : syntax::lex(text)) {
    if (t.kind == TokenKind::end_of_file || t.begin > offset) break;
    if (is_word(t.kind) && t.begin <= offset && offset <= t.end) {
      return Word{std::string(spelling(text, t)), t.begin, t.end};
    }
  }
  return {};
}

json::Value hover(const Analysis& a, std::string_view text, std::uint32_t offset) {
  const Word word = word_at(text, offset);
  const std::vector<const Symbol*> found = resolve(a, text, word);
  if (found.empty()) return nullptr;
  std::string markdown;
  for (const Symbol* s : found) {
    if (!markdown.empty()) markdown += "\n\n---\n\n";
    std::string part;
    if (a.policy && is_scope_kind(s->kind)) {
      for (model::Index i = 0; i < a.policy->scopes.size(); ++i) {
        if (a.policy->scopes[i].name_range == s->name_range) part = scope_hover(*a.policy, i);
      }
    } else if (a.policy && s->kind == "pool") {
      for (model::Index i = 0; i < a.policy->pools.size(); ++i) {
        if (a.policy->pools[i].name_range == s->name_range) part = pool_hover(*a.policy, i);
      }
    }
    if (part.empty()) {
      part = fmt::format("**{}** `{}`", s->kind, s->name);
      if (is_scope_kind(s->kind)) {
        part += "\n\nits effective guarantee and limit show once the policy checks without errors";
      }
    }
    if (const std::string where = where_declared(a, *s); !where.empty()) part += "\n\n" + where;
    markdown += part;
  }
  const Position start = position_of(text, word.begin), end = position_of(text, word.end);
  return json::Object{{"contents", json::Object{{"kind", "markdown"}, {"value", markdown}}},
                      {"range", json::Object{{"start", position_json(start)}, {"end", position_json(end)}}}};
}

json::Value definition(const Analysis& a, std::string_view text, std::uint32_t offset, const FileUris& uris) {
  json::Array out;
  for (const Symbol* s : resolve(a, text, word_at(text, offset))) {
    if (!s->name_range.valid() || s->name_range.file >= a.sources.file_count()) continue;
    out.push_back(json::Object{{"uri", uris.uri(s->name_range.file)},
                               {"range", range_json(a.sources.text(s->name_range.file), s->name_range)}});
  }
  return out;
}

json::Value completion(const Analysis& a, std::string_view text, std::uint32_t offset) {
  const Context c = context_at(text, offset);
  json::Array items;
  std::set<std::string> seen;
  const auto add = [&](std::string_view label, int kind, std::string_view detail) {
    if (seen.insert(std::string(label)).second) items.push_back(completion_item(label, kind, detail));
  };
  const auto add_resources = [&] {
    for (const char* r : {"gpu", "cpu", "memory", "cu"}) add(r, kProperty, "resource");
    for (const Symbol& s : a.symbols) {
      if (s.kind == "resource") add(s.name, kProperty, "resource");
    }
  };
  const auto add_references = [&](const std::vector<std::string_view>& wanted, bool top_level_only) {
    for (const Symbol& s : a.symbols) {
      if (top_level_only && !s.container.empty()) continue;
      if (std::find(wanted.begin(), wanted.end(), s.kind) != wanted.end()) add(s.name, kReference, s.kind);
    }
  };
  switch (c.where) {
    case Context::Where::top:
      for (const KindWords& k : kinds()) {
        if (k.top_level) add(k.kind, kKeyword, "declaration");
      }
      add("import", kKeyword, "");
      add("assert", kKeyword, "");
      break;
    case Context::Where::body:
      if (const KindWords* k = find_kind(c.kind)) {
        for (const std::string_view p : k->properties) add(p, kProperty, fmt::format("property of {}", k->kind));
        if (k->resources) add_resources();
        for (const std::string_view n : k->nested) add(n, kKeyword, "declaration");
        add("assert", kKeyword, "");
      }
      break;
    case Context::Where::object: {
      const ObjectWords words = object_words(c.key, c.tag);
      for (const std::string_view p : words.properties) add(p, kProperty, "");
      if (words.resources) add_resources();
      break;
    }
    case Context::Where::value:
    case Context::Where::list:
      for (const std::string_view v : value_words(c.key)) add(v, kEnumMember, "");
      add_references(referenced_kinds(c.key), false);
      break;
    case Context::Where::target:
      add_references(target_kinds(c.kind), true);
      break;
    case Context::Where::flavor:
      add_references({"flavor"}, false);
      break;
    case Context::Where::expression:
      add_references({"quota", "workspace"}, true);
      for (const char* f : {"sum", "min", "max", "count", "children"}) add(f, kValue, "function");
      break;
    case Context::Where::none:
      break;
  }
  return items;
}

}  // namespace allot::lsp
