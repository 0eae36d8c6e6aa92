// The one file of the compiler that includes ANTLR-generated headers (and so
// longer than most: the token stream, error reporting and recovery and the
// tree builder all need them).
#include "compiler/syntax/parser.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "AllotLexer.h"
#include "AllotParser.h"
#include "antlr4-runtime.h"
#include "compiler/base/codes.h"
#include "compiler/syntax/lexer.h"

namespace allot::syntax {
namespace {

using antlr4::Token;
using G = AllotParser;

constexpr std::size_t antlr_type(TokenKind kind) {
  if (kind == TokenKind::end_of_file) return Token::EOF;
  if (kind == TokenKind::unexpected_char) return AllotLexer::UNEXPECTED_CHAR;
  return static_cast<std::size_t>(kind) + 1;
}
static_assert(antlr_type(TokenKind::import_kw) == AllotLexer::IMPORT);
static_assert(antlr_type(TokenKind::x_kw) == AllotLexer::X);
static_assert(antlr_type(TokenKind::lbrace) == AllotLexer::LBRACE);
static_assert(antlr_type(TokenKind::slash) == AllotLexer::SLASH);
static_assert(antlr_type(TokenKind::number) == AllotLexer::NUMBER);
static_assert(antlr_type(TokenKind::ident) == AllotLexer::IDENT);
static_assert(antlr_type(TokenKind::string) == AllotLexer::STRING);
static_assert(antlr_type(TokenKind::unterminated_string) == AllotLexer::UNTERMINATED_STRING);

// Only asked for its token factory, by error recovery when it conjures a
// missing token; the tokens themselves come from the lexer.
class LexemeSource final : public antlr4::TokenSource {
 public:
  std::unique_ptr<Token> nextToken() override { return nullptr; }
  size_t getLine() const override { return 0; }
  size_t getCharPositionInLine() override { return 0; }
  antlr4::CharStream* getInputStream() override { return nullptr; }
  std::string getSourceName() override { return "policy"; }
  antlr4::TokenFactory<antlr4::CommonToken>* getTokenFactory() override {
    return antlr4::CommonTokenFactory::DEFAULT.get();
  }
};

// What the tokens of one file share.
struct TokenOrigin {
  std::string_view text;
  LexemeSource source;
};

// A token of the hand-written lexer as the ANTLR parser sees it (40 bytes;
// there is one per word of the policy). Its start and stop indexes are byte
// offsets into the source (ANTLR's own lexer would count code points); its
// text is a slice of the source.
class SliceToken final : public antlr4::Token {
 public:
  SliceToken(const Lexeme& lexeme, std::uint32_t index, TokenOrigin* origin)
      : lexeme_(lexeme), index_(index), origin_(origin) {}

  std::string getText() const override {
    return std::string(origin_->text.substr(lexeme_.begin, lexeme_.end - lexeme_.begin));
  }
  size_t getType() const override { return antlr_type(lexeme_.kind); }
  size_t getLine() const override { return lexeme_.line; }
  size_t getCharPositionInLine() const override { return lexeme_.column; }
  size_t getChannel() const override { return DEFAULT_CHANNEL; }
  size_t getTokenIndex() const override { return index_; }
  size_t getStartIndex() const override { return lexeme_.begin; }
  // ANTLR's stop index is inclusive; for the end-of-file token it is start - 1.
  size_t getStopIndex() const override { return static_cast<size_t>(lexeme_.end) - 1; }
  antlr4::TokenSource* getTokenSource() const override { return &origin_->source; }
  antlr4::CharStream* getInputStream() const override { return nullptr; }
  std::string toString() const override { return getText(); }

 private:
  Lexeme lexeme_;
  std::uint32_t index_;
  TokenOrigin* origin_;
};

// The token stream the parser reads: every token of the file, in one vector,
// with no per-token allocation. Indexes follow BufferedTokenStream.
class LexemeTokenStream final : public antlr4::TokenStream {
 public:
  LexemeTokenStream(const std::vector<Lexeme>& lexemes, std::string_view text) : origin_{text, {}} {
    tokens_.reserve(lexemes.size());
    for (std::size_t i = 0; i < lexemes.size(); ++i)
      tokens_.emplace_back(lexemes[i], static_cast<std::uint32_t>(i), &origin_);
  }
  LexemeTokenStream(const LexemeTokenStream&) = delete;
  LexemeTokenStream& operator=(const LexemeTokenStream&) = delete;

  Token* LT(ssize_t k) override {
    if (k == 0) return nullptr;
    if (k < 0) {
      const auto back = static_cast<std::size_t>(-k);
      return back > position_ ? nullptr : &tokens_[position_ - back];
    }
    const std::size_t i = position_ + static_cast<std::size_t>(k) - 1;
    return i >= tokens_.size() ? &tokens_.back() : &tokens_[i];
  }
  size_t LA(ssize_t i) override {
    const Token* t = LT(i);
    return t == nullptr ? 0 : t->getType();
  }
  Token* get(size_t index) const override { return const_cast<SliceToken*>(&tokens_.at(index)); }
  antlr4::TokenSource* getTokenSource() const override { return &origin_.source; }
  std::string getText(const antlr4::misc::Interval& interval) override {
    if (interval.a < 0 || interval.b < 0) return "";
    std::string out;
    const auto last = std::min(static_cast<std::size_t>(interval.b), tokens_.size() - 1);
    for (auto i = static_cast<std::size_t>(interval.a); i <= last; ++i) {
      if (tokens_[i].getType() == Token::EOF) break;
      out += tokens_[i].getText();
    }
    return out;
  }
  std::string getText() override {
    return getText(antlr4::misc::Interval(0, static_cast<ssize_t>(tokens_.size()) - 1));
  }
  std::string getText(antlr4::RuleContext* ctx) override { return getText(ctx->getSourceInterval()); }
  std::string getText(Token* start, Token* stop) override {
    if (start == nullptr || stop == nullptr) return "";
    return getText(antlr4::misc::Interval(start->getTokenIndex(), stop->getTokenIndex()));
  }
  void consume() override {
    if (LA(1) == Token::EOF) throw antlr4::IllegalStateException("cannot consume EOF");
    ++position_;
  }
  ssize_t mark() override { return 0; }
  void release(ssize_t /*marker*/) override {}
  size_t index() override { return position_; }
  void seek(size_t index) override { position_ = std::min(index, tokens_.size() - 1); }
  size_t size() override { return tokens_.size(); }
  std::string getSourceName() const override { return "policy"; }

 private:
  mutable TokenOrigin origin_;
  std::vector<SliceToken> tokens_;
  std::size_t position_ = 0;
};

std::string describe_token(const Token* token) {
  if (token == nullptr || token->getType() == Token::EOF) return "end of file";
  std::string text = token->getText();
  if (text.size() > 24) text = text.substr(0, 21) + "...";
  return fmt::format("`{}`", text);
}

bool is_word(std::size_t type) {
  return type == AllotLexer::IDENT || type == AllotLexer::X || type == AllotLexer::ON || type == AllotLexer::AS ||
         type == AllotLexer::AND || type == AllotLexer::OR || type == AllotLexer::NOT || type == AllotLexer::IMPORT ||
         type == AllotLexer::ASSERT;
}

constexpr const char* kNameRule =
    "a name contains ASCII letters, digits, `-` and `_`, starts with a letter or `_`, and does not end with `-`";

// A declaration's name that is not one: `pool 1st-pool {` (a name starting
// with a digit) or `pool train pool {` (a name with a space). Both are told
// by what follows: the declaration goes on with `{`, `=` or `on`, so the
// author meant a name, not a property (`cpu 4` lacks its `=`).
std::optional<Diagnostic> explain_name(antlr4::Parser& parser, const Token* offending, FileId file) {
  if (offending == nullptr || parser.getContext() == nullptr) return std::nullopt;
  antlr4::TokenStream& tokens = *parser.getTokenStream();
  const std::size_t at = offending->getTokenIndex();
  const std::size_t rule = parser.getContext()->getRuleIndex();
  auto tok = [&](std::size_t i) { return tokens.get(std::min(i, tokens.size() - 1)); };
  auto continues_declaration = [&](const Token* t) {
    return t->getType() == AllotLexer::LBRACE || t->getType() == AllotLexer::EQ || t->getType() == AllotLexer::ON;
  };
  const bool in_declaration = rule == G::RuleDeclName || rule == G::RuleDeclaration || rule == G::RuleTopItem ||
                              rule == G::RuleMember || rule == G::RuleWord;
  if (in_declaration && offending->getType() == AllotLexer::NUMBER) {
    // The name runs as far as the tokens touch: `1st` `-` `pool`.
    std::size_t last = at;
    while (last + 1 < tokens.size() && tok(last + 1)->getStartIndex() == tok(last)->getStopIndex() + 1 &&
           (is_word(tok(last + 1)->getType()) || tok(last + 1)->getType() == AllotLexer::NUMBER ||
            tok(last + 1)->getType() == AllotLexer::MINUS))
      ++last;
    if (!continues_declaration(tok(last + 1))) return std::nullopt;
    const SourceRange range{file, static_cast<std::uint32_t>(offending->getStartIndex()),
                            static_cast<std::uint32_t>(tok(last)->getStopIndex() + 1)};
    Diagnostic d{Severity::error, code::E0004, "", range, {}, {}};
    d.message =
        fmt::format("`{}` is not a valid name: a name cannot start with a digit", tokens.getText(tok(at), tok(last)));
    d.add_help(kNameRule);
    return d;
  }
  if (in_declaration && offending->getType() == AllotLexer::IDENT && at > 0 && is_word(tok(at - 1)->getType()) &&
      tok(at - 1)->getLine() == offending->getLine()) {
    std::size_t last = at;
    while (last + 1 < tokens.size() && tok(last + 1)->getType() == AllotLexer::IDENT &&
           tok(last + 1)->getLine() == offending->getLine())
      ++last;
    if (!continues_declaration(tok(last + 1))) return std::nullopt;
    const Token* first = tok(at - 1);
    std::string joined, spaced;
    for (std::size_t i = at - 1; i <= last; ++i) {
      joined += (joined.empty() ? "" : "-") + tok(i)->getText();
      spaced += (spaced.empty() ? "" : " ") + tok(i)->getText();
    }
    const SourceRange range{file, static_cast<std::uint32_t>(first->getStartIndex()),
                            static_cast<std::uint32_t>(tok(last)->getStopIndex() + 1)};
    Diagnostic d{Severity::error, code::E0004, "", range, {}, {}};
    d.message = fmt::format("a name cannot contain spaces: `{}`", spaced);
    d.add_help(fmt::format("write `{}`; {}", joined, kNameRule));
    return d;
  }
  return std::nullopt;
}

class ErrorReporter : public antlr4::BaseErrorListener {
 public:
  // With `stop_after_first`, the first error ends the parse (by throwing
  // ParseCancellationException): one error per top-level item.
  ErrorReporter(FileId file, DiagnosticSink& sink, std::size_t max_errors, std::optional<SourceRange> unclosed,
                bool stop_after_first = false)
      : file_(file), sink_(sink), max_errors_(max_errors), unclosed_(unclosed), stop_after_first_(stop_after_first) {}

  void syntaxError(antlr4::Recognizer* recognizer, Token* offending, size_t /*line*/, size_t /*column*/,
                   const std::string& /*msg*/, std::exception_ptr /*e*/) override {
    ++count_;
    if (count_ > max_errors_) return;
    report(recognizer, offending);
    if (stop_after_first_) throw antlr4::ParseCancellationException("first error reported");
  }

  std::size_t count() const { return count_; }

 private:
  void report(antlr4::Recognizer* recognizer, Token* offending) {
    if (auto* parser = dynamic_cast<antlr4::Parser*>(recognizer)) {
      if (std::optional<Diagnostic> name = explain_name(*parser, offending, file_)) {
        Diagnostic& d = sink_.error(name->code, name->range, name->message);
        for (std::string& h : name->help) d.add_help(std::move(h));
        return;
      }
    }
    SourceRange range{file_, 0, 0};
    if (offending != nullptr) {
      range.begin = static_cast<std::uint32_t>(offending->getStartIndex());
      range.end =
          offending->getType() == Token::EOF ? range.begin : static_cast<std::uint32_t>(offending->getStopIndex() + 1);
    }
    Diagnostic& d = sink_.error(code::E0004, range, fmt::format("unexpected {}", describe_token(offending)));
    const bool at_end = offending == nullptr || offending->getType() == Token::EOF;
    // `quta lab` and a new line: the declaration before ends without a body.
    if (auto* parser = dynamic_cast<antlr4::Parser*>(recognizer);
        parser && offending && !at_end && offending->getTokenIndex() > 0) {
      const Token* before = parser->getTokenStream()->get(offending->getTokenIndex() - 1);
      const std::size_t rule = parser->getContext() ? parser->getContext()->getRuleIndex() : 0;
      if (before->getLine() < offending->getLine() && is_word(before->getType()) &&
          (rule == G::RuleDeclaration || rule == G::RuleDeclName))
        d.add_help(
            fmt::format("the declaration ending with `{}` on line {} has no body: write `KIND NAME {{ ... }}` "
                        "or `KIND NAME = VALUE`",
                        before->getText(), before->getLine()));
    }
    if (at_end && unclosed_) d.note("this bracket is never closed", *unclosed_);
    const bool value_token = offending != nullptr &&
                             (offending->getType() == AllotLexer::NUMBER || offending->getType() == AllotLexer::STRING);
    if (auto* parser = dynamic_cast<antlr4::Parser*>(recognizer)) {
      std::vector<std::string> expected;
      const antlr4::misc::IntervalSet set = parser->getExpectedTokens();
      const antlr4::dfa::Vocabulary& vocabulary = parser->getVocabulary();
      bool wants_name = false;
      for (std::size_t type : set.toList()) {
        if (type == AllotLexer::IDENT || type == AllotLexer::X || type == AllotLexer::ON || type == AllotLexer::AS ||
            type == AllotLexer::AND || type == AllotLexer::OR || type == AllotLexer::NOT ||
            type == AllotLexer::IMPORT || type == AllotLexer::ASSERT) {
          wants_name = true;
          continue;
        }
        if (type == Token::EOF) {
          expected.push_back("end of file");
          continue;
        }
        std::string name = vocabulary.getLiteralName(type);
        if (name.size() >= 2 && name.front() == '\'') {
          expected.push_back(fmt::format("`{}`", name.substr(1, name.size() - 2)));
        } else if (type == AllotLexer::NUMBER) {
          expected.push_back("a number");
        } else if (type == AllotLexer::STRING) {
          expected.push_back("a string");
        }
      }
      if (wants_name) expected.insert(expected.begin(), "a name");
      if (wants_name && value_token) d.add_help("a property is written `key = value`");
      if (!expected.empty() && expected.size() <= 8) {
        std::string wanted = expected[0];
        if (expected.size() == 2) wanted = expected[0] + " or " + expected[1];
        if (expected.size() > 2) wanted = "one of " + join_list(expected);
        d.message = fmt::format("expected {}, found {}", wanted, describe_token(offending));
      }
    }
  }

  static std::string join_list(const std::vector<std::string>& items) {
    std::string out;
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (i > 0) out += ", ";
      out += items[i];
    }
    return out;
  }

  FileId file_;
  DiagnosticSink& sink_;
  std::size_t max_errors_;
  std::optional<SourceRange> unclosed_;
  bool stop_after_first_;
  std::size_t count_ = 0;
};

bool is_opener(std::size_t type) {
  return type == AllotLexer::LBRACE || type == AllotLexer::LBRACK || type == AllotLexer::LPAREN;
}
bool is_closer(std::size_t type) {
  return type == AllotLexer::RBRACE || type == AllotLexer::RBRACK || type == AllotLexer::RPAREN;
}
bool is_operator(std::size_t type) {
  switch (type) {
    case AllotLexer::PLUS:
    case AllotLexer::MINUS:
    case AllotLexer::STAR:
    case AllotLexer::SLASH:
    case AllotLexer::EQEQ:
    case AllotLexer::NEQ:
    case AllotLexer::LT:
    case AllotLexer::LE:
    case AllotLexer::GT:
    case AllotLexer::GE:
    case AllotLexer::AND:
    case AllotLexer::OR:
    case AllotLexer::NOT:
    case AllotLexer::DOT:
      return true;
    default:
      return false;
  }
}

// Checks the token stream before parsing: lexical errors, and the nesting
// and operator-chain limits that keep the recursive-descent parser and every
// later tree walk far from the end of the stack.
enum class Prescan { ok, lexical_errors, too_deep };
Prescan prescan(const std::vector<Lexeme>& tokens, std::string_view text, FileId file, DiagnosticSink& sink,
                const ParseLimits& limits, std::optional<SourceRange>& unclosed) {
  bool ok = true;
  std::size_t depth = 0;
  std::vector<SourceRange> open;
  std::size_t operators = 0;
  std::size_t lexical_errors = 0;
  for (const Lexeme& token : tokens) {
    const std::size_t type = antlr_type(token.kind);
    const SourceRange range{file, token.begin, token.end};
    if (type == AllotLexer::UNEXPECTED_CHAR || type == AllotLexer::UNTERMINATED_STRING) {
      ok = false;
      if (++lexical_errors > limits.max_syntax_errors_per_file) continue;
      if (type == AllotLexer::UNTERMINATED_STRING) {
        sink.error(code::E0003, range, "unterminated string")
            .add_help("close the string with `\"` before the end of the line");
      } else {
        const std::string_view character = text.substr(token.begin, token.end - token.begin);
        Diagnostic& d = sink.error(code::E0002, range, fmt::format("unexpected character `{}`", character));
        if (character == "'") d.add_help("strings are written in double quotes");
        if (character == ";") d.add_help("separate items with `,` or a new line");
      }
      continue;
    }
    if (is_opener(type)) {
      open.push_back(range);
      if (++depth > limits.max_nesting) {
        sink.error(code::E0005, range, fmt::format("nesting deeper than {} levels", limits.max_nesting))
            .add_help("flatten the structure; no policy needs this depth");
        return Prescan::too_deep;
      }
    } else if (is_closer(type) && depth > 0) {
      --depth;
      open.pop_back();
    }
    if (is_operator(type)) {
      if (++operators > limits.max_expression_operators) {
        sink.error(code::E0005, range,
                   fmt::format("expression longer than {} operators", limits.max_expression_operators))
            .add_help("split the expression into several assertions");
        return Prescan::too_deep;
      }
    } else if (type != AllotLexer::IDENT && type != AllotLexer::NUMBER && type != AllotLexer::STRING &&
               type != AllotLexer::LPAREN && type != AllotLexer::RPAREN && type != AllotLexer::X) {
      operators = 0;
    }
  }
  if (!open.empty()) unclosed = open.back();
  return ok ? Prescan::ok : Prescan::lexical_errors;
}

std::string unescape(std::string_view quoted) {
  std::string out;
  out.reserve(quoted.size());
  for (std::size_t i = 1; i + 1 < quoted.size(); ++i) {
    char c = quoted[i];
    if (c == '\\' && i + 2 < quoted.size()) {
      const char next = quoted[++i];
      switch (next) {
        case 'n':
          c = '\n';
          break;
        case 't':
          c = '\t';
          break;
        default:
          c = next;
      }
    }
    out.push_back(c);
  }
  return out;
}

// Builds the AST from a parse tree known to be free of syntax errors.
//
// It walks each context's children instead of calling the generated
// accessors: those dynamic_cast every child on every call, which cost 16%
// of `allot check` on large policies. In an error-free tree a node without
// children is a terminal (every rule consumes a token), rules are told apart
// by their rule index and labeled alternatives by the shape of their
// children, as the grammar defines them.
class Builder {
 public:
  using Tree = antlr4::tree::ParseTree;
  using Rule = antlr4::ParserRuleContext;

  Builder(FileId file, std::string_view text) : file_(file), text_(text) {}

  ast::File build(antlr4::ParserRuleContext* ctx) {
    ast::File out;
    out.id = file_;
    for (Tree* child : ctx->children) {
      if (is_terminal(child)) continue;  // end of file
      Rule* item = rule(child);
      if (item->getRuleIndex() == G::RuleImportDecl) {
        add_import(out, item);
      } else {
        add_top_item(out, item);
      }
    }
    return out;
  }

  // importDecl : IMPORT STRING SEP?
  void add_import(ast::File& out, Rule* ctx) const {
    out.imports.push_back(ast::Import{unescape(text_of(token(ctx->children[1]))), range(ctx)});
  }

  // topItem : assertion | declaration
  void add_top_item(ast::File& out, Rule* ctx) {
    Rule* inner = rule(ctx->children[0]);
    if (inner->getRuleIndex() == G::RuleAssertion) {
      out.assertions.push_back(assertion(inner));
    } else {
      out.declarations.push_back(declaration(inner));
    }
  }

 private:
  static bool is_terminal(const Tree* t) { return t->children.empty(); }
  static Rule* rule(Tree* t) { return static_cast<Rule*>(t); }
  static const Token* token(Tree* t) { return static_cast<antlr4::tree::TerminalNode*>(t)->getSymbol(); }
  static std::size_t token_type(Tree* t) { return token(t)->getType(); }

  SourceRange range(const Rule* ctx) const {
    const Token* start = ctx->start;
    const Token* stop = ctx->stop;
    const auto begin = static_cast<std::uint32_t>(start->getStartIndex());
    SourceRange r{file_, begin, begin};
    if (stop != nullptr && stop->getType() != Token::EOF && stop->getStopIndex() + 1 >= start->getStartIndex()) {
      r.end = static_cast<std::uint32_t>(stop->getStopIndex() + 1);
    }
    return r;
  }
  SourceRange range(const Token* token) const {
    return SourceRange{file_, static_cast<std::uint32_t>(token->getStartIndex()),
                       static_cast<std::uint32_t>(token->getStopIndex() + 1)};
  }
  // A slice of the source, which outlives the tree (ast.h).
  std::string_view text_of(const Token* token) const {
    const SourceRange r = range(token);
    return text_.substr(r.begin, r.end - r.begin);
  }
  // A `word` rule: one terminal.
  ast::Identifier identifier(Tree* word) const {
    const Token* t = token(word->children[0]);
    return ast::Identifier{text_of(t), range(t)};
  }

  static ast::NumberLit number(std::string_view text) {
    std::size_t split = 0;
    while (split < text.size() && (std::isdigit(static_cast<unsigned char>(text[split])) || text[split] == '.'))
      ++split;
    return ast::NumberLit{text.substr(0, split), text.substr(split)};
  }

  // assertion : ASSERT expr (AS STRING)? SEP?
  ast::Assertion assertion(Rule* ctx) {
    ast::Assertion out;
    const auto& c = ctx->children;
    out.expr = expr(rule(c[1]));
    if (c.size() > 3 && is_terminal(c[2]) && token_type(c[2]) == AllotLexer::AS) {
      out.label = unescape(text_of(token(c[3])));
    }
    out.range = range(ctx);
    return out;
  }

  // declaration : word declName ((ON word)? body | EQ value) SEP?
  ast::Declaration declaration(Rule* ctx) {
    ast::Declaration out;
    const auto& c = ctx->children;
    out.kind = identifier(c[0]);
    Rule* name = rule(c[1]);
    const SourceRange name_range = range(name);
    out.name = ast::Identifier{text_.substr(name_range.begin, name_range.end - name_range.begin), name_range};
    out.dotted_name = name->children.size() > 1;
    for (std::size_t i = 2; i < c.size(); ++i) {
      if (is_terminal(c[i])) {
        if (token_type(c[i]) == AllotLexer::ON) out.target = identifier(c[++i]);
        continue;  // `=` or `,`
      }
      Rule* part = rule(c[i]);
      if (part->getRuleIndex() == G::RuleBody) {
        out.body = body(part);
      } else {
        out.value = std::make_unique<ast::Value>(value(part));
      }
    }
    out.range = range(ctx);
    return out;
  }

  // body : LBRACE member* RBRACE
  ast::Body body(Rule* ctx) {
    ast::Body out;
    out.range = range(ctx);
    for (Tree* child : ctx->children) {
      if (!is_terminal(child)) add_member(out, rule(child));  // not the braces
    }
    return out;
  }

 public:
  // member : property | declaration | assertion
  void add_member(ast::Body& out, Rule* ctx) {
    Rule* member = rule(ctx->children[0]);
    switch (member->getRuleIndex()) {
      case G::RuleProperty: {  // word EQ value SEP?
        const auto& p = member->children;
        out.properties.push_back(ast::Property{identifier(p[0]), value(rule(p[2])), range(member)});
        break;
      }
      case G::RuleDeclaration:
        out.declarations.push_back(declaration(member));
        break;
      default:
        out.assertions.push_back(assertion(member));
    }
  }

  // The parts of `declaration` before the body, read from the tokens by
  // the caller (parse_recovering), which then parses the members one by one.
  struct Header {
    const Token* kind;
    const Token* name_first;
    const Token* name_last;
    const Token* target;  // null without `on`
    const Token* lbrace;
  };
  ast::Declaration open_declaration(const Header& h) const {
    ast::Declaration out;
    out.kind = ast::Identifier{text_of(h.kind), range(h.kind)};
    const SourceRange name_range{file_, range(h.name_first).begin, range(h.name_last).end};
    out.name = ast::Identifier{text_.substr(name_range.begin, name_range.end - name_range.begin), name_range};
    out.dotted_name = h.name_first != h.name_last;
    if (h.target != nullptr) out.target = ast::Identifier{text_of(h.target), range(h.target)};
    out.body.emplace();
    // Most bodies have a property or two; growing from one to two moves it.
    out.body->properties.reserve(2);
    out.body->range = range(h.lbrace);
    out.range = range(h.kind);
    return out;
  }
  // `last` is the closing brace, or the `,` after it.
  void close_declaration(ast::Declaration& out, const Token* rbrace, const Token* last) const {
    out.body->range.end = range(rbrace).end;
    out.range.end = range(last).end;
  }

 private:
  // value : `[` list `]` | word? body | NUMBER X word | expr (RANGE expr?)?
  ast::Value value(Rule* ctx) {
    ast::Value out;
    out.range = range(ctx);
    const auto& c = ctx->children;
    if (is_terminal(c[0])) {
      if (token_type(c[0]) == AllotLexer::LBRACK) {
        ast::ListValue l;
        for (Tree* item : c) {
          if (!is_terminal(item)) l.items.push_back(value(rule(item)));
        }
        out.node = std::move(l);
      } else {
        const Token* count = token(c[0]);
        out.node = ast::NodesValue{number(text_of(count)), range(count), identifier(c[2])};
      }
      return out;
    }
    Rule* first = rule(c[0]);
    switch (first->getRuleIndex()) {
      case G::RuleBody: {
        ast::ObjectValue o;
        o.body = std::make_unique<ast::Body>(body(first));
        out.node = std::move(o);
        break;
      }
      case G::RuleWord: {
        ast::ObjectValue o;
        o.tag = identifier(first);
        o.body = std::make_unique<ast::Body>(body(rule(c[1])));
        out.node = std::move(o);
        break;
      }
      default:
        if (c.size() > 1) {
          ast::RangeValue rv;
          rv.low = expr(first);
          if (c.size() > 2) rv.high = expr(rule(c[2]));
          out.node = std::move(rv);
        } else {
          out.node = ast::ScalarValue{expr(first)};
        }
    }
    return out;
  }

  static ast::BinaryOp binary_op(std::size_t type) {
    switch (type) {
      case AllotLexer::STAR:
        return ast::BinaryOp::mul;
      case AllotLexer::SLASH:
        return ast::BinaryOp::div;
      case AllotLexer::PLUS:
        return ast::BinaryOp::add;
      case AllotLexer::MINUS:
        return ast::BinaryOp::sub;
      case AllotLexer::EQEQ:
        return ast::BinaryOp::eq;
      case AllotLexer::NEQ:
        return ast::BinaryOp::ne;
      case AllotLexer::LT:
        return ast::BinaryOp::lt;
      case AllotLexer::LE:
        return ast::BinaryOp::le;
      case AllotLexer::GT:
        return ast::BinaryOp::gt;
      case AllotLexer::AND:
        return ast::BinaryOp::logical_and;
      case AllotLexer::OR:
        return ast::BinaryOp::logical_or;
      default:
        return ast::BinaryOp::ge;
    }
  }

  static ast::ExprPtr make(decltype(ast::Expr::node) node) {
    return std::make_unique<ast::Expr>(ast::Expr{{}, std::move(node)});
  }

  // The alternatives of `expr`, told apart by their children:
  //   NUMBER | STRING | word            one child
  //   `(` expr `)` | (`-` | not) expr   a terminal first
  //   word `(` args `)`                 a word first
  //   expr `.` word | expr OP expr      an expr first, then a terminal
  ast::ExprPtr expr(Rule* ctx) {
    ast::ExprPtr out;
    const auto& c = ctx->children;
    if (c.size() == 1) {
      if (!is_terminal(c[0])) {
        out = make(ast::NameRef{text_of(ctx->start)});
      } else if (token_type(c[0]) == AllotLexer::NUMBER) {
        out = make(number(text_of(token(c[0]))));
      } else {
        out = make(ast::StringLit{unescape(text_of(token(c[0])))});
      }
    } else if (is_terminal(c[0])) {
      const std::size_t type = token_type(c[0]);
      if (type == AllotLexer::LPAREN) {
        out = expr(rule(c[1]));
      } else {
        const auto op = type == AllotLexer::NOT ? ast::UnaryOp::logical_not : ast::UnaryOp::negate;
        out = make(ast::UnaryExpr{op, expr(rule(c[1]))});
      }
    } else if (rule(c[0])->getRuleIndex() == G::RuleWord) {
      ast::CallExpr call;
      call.callee = identifier(c[0]);
      for (std::size_t i = 1; i < c.size(); ++i) {
        if (!is_terminal(c[i])) call.args.push_back(expr(rule(c[i])));
      }
      out = make(std::move(call));
    } else {
      const std::size_t type = token_type(c[1]);
      if (type == AllotLexer::DOT) {
        out = make(ast::MemberExpr{expr(rule(c[0])), identifier(c[2])});
      } else {
        out = make(ast::BinaryExpr{binary_op(type), expr(rule(c[0])), expr(rule(c[2]))});
      }
    }
    out->range = range(ctx);
    return out;
  }

  FileId file_;
  std::string_view text_;
};

// The header of a declaration with a body (`word declName (ON word)? {`)
// at the stream's position, consumed; nullopt, with nothing consumed, when
// the tokens there are anything else. A member or top-level item that
// starts so can only be such a declaration: an assertion's expression
// never goes on with `{` or `on`, nor a property's key with a word.
std::optional<Builder::Header> body_declaration_at(LexemeTokenStream& tokens) {
  if (!is_word(tokens.LA(1)) || !is_word(tokens.LA(2))) return std::nullopt;
  Builder::Header h{tokens.LT(1), tokens.LT(2), tokens.LT(2), nullptr, nullptr};
  ssize_t k = 3;
  while (tokens.LA(k) == AllotLexer::DOT && (is_word(tokens.LA(k + 1)) || tokens.LA(k + 1) == AllotLexer::NUMBER)) {
    h.name_last = tokens.LT(k + 1);
    k += 2;
  }
  if (tokens.LA(k) == AllotLexer::ON && is_word(tokens.LA(k + 1))) {
    h.target = tokens.LT(k + 1);
    k += 2;
  }
  if (tokens.LA(k) != AllotLexer::LBRACE) return std::nullopt;
  h.lbrace = tokens.LT(k);
  for (ssize_t i = 0; i < k; ++i) tokens.consume();
  return h;
}

// The rest of `declaration` after its header, member by member: each
// member's parse tree is turned into AST and freed before the next one is
// parsed, and a member that is itself a declaration with a body is driven
// the same way, so that no parse tree larger than one leaf member exists.
// This is `body SEP?` of the grammar; an error throws
// ParseCancellationException, as the bail strategy does.
ast::Declaration parse_members(const Builder::Header& header, LexemeTokenStream& tokens, AllotParser& parser,
                               Builder& builder) {
  ast::Declaration out = builder.open_declaration(header);
  while (tokens.LA(1) != AllotLexer::RBRACE) {
    if (tokens.LA(1) == Token::EOF) throw antlr4::ParseCancellationException("unclosed body");
    if (std::optional<Builder::Header> inner = body_declaration_at(tokens)) {
      out.body->declarations.push_back(parse_members(*inner, tokens, parser, builder));
    } else {
      builder.add_member(*out.body, parser.member());
      parser.getTreeTracker().reset();
    }
  }
  const Token* rbrace = tokens.LT(1);
  const Token* last = rbrace;
  tokens.consume();
  if (tokens.LA(1) == AllotLexer::SEP) {
    last = tokens.LT(1);
    tokens.consume();
  }
  builder.close_declaration(out, rbrace, last);
  return out;
}

}  // namespace

ParsedFile parse_recovering(const SourceManager& sources, FileId file, DiagnosticSink& sink,
                            const ParseLimits& limits) {
  const std::string_view text = sources.text(file);
  // Offsets are 32-bit: larger files are refused whatever the limit says.
  if (text.size() > std::min<std::size_t>(limits.max_file_bytes, UINT32_MAX - 1)) {
    sink.error(code::E0006, SourceRange{file, 0, 0},
               fmt::format("file is {} bytes, more than the limit of {} bytes", text.size(), limits.max_file_bytes))
        .add_help("split the policy into several files joined with `import`");
    return ParsedFile{};
  }
  if (const std::size_t bad = find_invalid_utf8(text); bad != std::string_view::npos) {
    const auto at = static_cast<std::uint32_t>(bad);
    sink.error(code::E0001, SourceRange{file, at, at + 1},
               fmt::format("invalid UTF-8 byte `\\x{:02x}`", static_cast<unsigned char>(text[bad])))
        .add_help("policy files must be UTF-8 text");
    return ParsedFile{};
  }

  std::optional<SourceRange> unclosed;
  std::optional<LexemeTokenStream> stream;
  bool lexical_ok = true;
  {
    const std::vector<Lexeme> lexemes = lex(text);
    const Prescan scanned = prescan(lexemes, text, file, sink, limits, unclosed);
    // Too deep or too long: no parse is attempted at all.
    if (scanned == Prescan::too_deep) return ParsedFile{};
    lexical_ok = scanned == Prescan::ok;
    stream.emplace(lexemes, text);
  }
  LexemeTokenStream& tokens = *stream;
  AllotParser parser(&tokens);
  parser.removeErrorListeners();
  Builder builder(file, text);

  // Fast path: SLL prediction, bailing out on the first problem; only then
  // pay for full LL prediction with error reporting and recovery.
  parser.getInterpreter<antlr4::atn::ParserATNSimulator>()->setPredictionMode(antlr4::atn::PredictionMode::SLL);
  parser.setErrorHandler(std::make_shared<antlr4::BailErrorStrategy>());
  // Declaration by declaration: each top-level item's parse tree is turned
  // into AST and freed before the next is parsed, so that the parse tree of
  // a large policy never exists at once. This is `policyFile`'s
  // `importDecl* topItem* EOF`, driven from here.
  if (lexical_ok) {
    try {
      ast::File out;
      out.id = file;
      while (tokens.LA(1) == AllotLexer::IMPORT && tokens.LA(2) == AllotLexer::STRING) {
        builder.add_import(out, parser.importDecl());
        parser.getTreeTracker().reset();
      }
      while (tokens.LA(1) != Token::EOF) {
        if (std::optional<Builder::Header> header = body_declaration_at(tokens)) {
          out.declarations.push_back(parse_members(*header, tokens, parser, builder));
        } else {
          builder.add_top_item(out, parser.topItem());
          parser.getTreeTracker().reset();
        }
      }
      return ParsedFile{std::move(out), true};
    } catch (const antlr4::ParseCancellationException&) {
    }
  }

  // Recovery at the level of top-level items: an item that does not parse
  // is reported once (its first error) and left out, and parsing goes on
  // with the next item, the first word at the start of a line outside any
  // bracket. One mistake gives one error, and the rest of the file is still
  // read (for the semantic checks of what parsed).
  ParsedFile result;
  result.file.emplace();
  result.file->id = file;
  std::size_t reported = 0;
  bool items_started = false;
  // Parses the item at `start` in `mode`, bailing out on an error.
  auto try_item = [&](std::size_t start, antlr4::atn::PredictionMode mode, bool is_import) {
    parser.reset();
    tokens.seek(start);
    parser.getInterpreter<antlr4::atn::ParserATNSimulator>()->setPredictionMode(mode);
    parser.setErrorHandler(std::make_shared<antlr4::BailErrorStrategy>());
    try {
      if (is_import) {
        builder.add_import(*result.file, parser.importDecl());
      } else {
        builder.add_top_item(*result.file, parser.topItem());
      }
      parser.getTreeTracker().reset();
      return true;
    } catch (const antlr4::ParseCancellationException&) {
      parser.getTreeTracker().reset();
      return false;
    }
  };
  // The start of the next item after a broken one at `start`.
  auto next_item = [&](std::size_t start) {
    std::size_t depth = 0;
    for (std::size_t i = start + 1; i < tokens.size(); ++i) {
      const Token* prev = tokens.get(i - 1);
      if (is_opener(prev->getType())) ++depth;
      if (is_closer(prev->getType()) && depth > 0) --depth;
      const Token* t = tokens.get(i);
      if (t->getType() == Token::EOF) return i;
      if (depth == 0 && t->getLine() > prev->getLine() && is_word(t->getType())) return i;
    }
    return tokens.size() - 1;
  };
  auto lexical_error_in = [&](std::size_t begin, std::size_t end) {
    for (std::size_t i = begin; i < end; ++i) {
      const std::size_t type = tokens.get(i)->getType();
      if (type == AllotLexer::UNEXPECTED_CHAR || type == AllotLexer::UNTERMINATED_STRING) return true;
    }
    return false;
  };
  std::size_t position = 0;
  while (tokens.get(position)->getType() != Token::EOF) {
    const bool is_import = !items_started && tokens.get(position)->getType() == AllotLexer::IMPORT &&
                           tokens.get(std::min(position + 1, tokens.size() - 1))->getType() == AllotLexer::STRING;
    if (try_item(position, antlr4::atn::PredictionMode::SLL, is_import) ||
        try_item(position, antlr4::atn::PredictionMode::LL, is_import)) {
      if (!is_import) items_started = true;
      position = tokens.index();
      continue;
    }
    if (!is_import) items_started = true;
    const std::size_t end = next_item(position);
    result.complete = false;
    // A lexical error was reported already; its item needs no other.
    if (!lexical_error_in(position, end) && reported < limits.max_syntax_errors_per_file) {
      ++reported;
      parser.reset();
      tokens.seek(position);
      ErrorReporter reporter(file, sink, 1, unclosed, true);
      parser.addErrorListener(&reporter);
      parser.setErrorHandler(std::make_shared<antlr4::DefaultErrorStrategy>());
      parser.getInterpreter<antlr4::atn::ParserATNSimulator>()->setPredictionMode(antlr4::atn::PredictionMode::LL);
      try {
        if (is_import) {
          parser.importDecl();
        } else {
          parser.topItem();
        }
      } catch (const antlr4::ParseCancellationException&) {
      }
      parser.removeErrorListeners();
      parser.getTreeTracker().reset();
    }
    position = end;
  }
  if (!lexical_ok) result.complete = false;
  return result;
}

std::optional<ast::File> parse(const SourceManager& sources, FileId file, DiagnosticSink& sink,
                               const ParseLimits& limits) {
  ParsedFile parsed = parse_recovering(sources, file, sink, limits);
  if (!parsed.complete) return std::nullopt;
  return std::move(parsed.file);
}

std::vector<Lexeme> reference_lex(std::string_view text) {
  // ANTLRInputStream drops a leading byte order mark: its indexes start after it.
  const std::uint32_t skipped = text.substr(0, 3) == "\xef\xbb\xbf" ? 3 : 0;
  std::vector<std::uint32_t> byte_of_code_point;
  for (std::uint32_t i = skipped; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) byte_of_code_point.push_back(i);
  }
  byte_of_code_point.push_back(static_cast<std::uint32_t>(text.size()));
  antlr4::ANTLRInputStream input(text.data(), text.size());
  AllotLexer lexer(&input);
  lexer.removeErrorListeners();
  std::vector<Lexeme> out;
  for (const auto& token : lexer.getAllTokens()) {
    TokenKind kind = TokenKind::unexpected_char;
    if (token->getType() != AllotLexer::UNEXPECTED_CHAR) kind = static_cast<TokenKind>(token->getType() - 1);
    out.push_back(Lexeme{kind, byte_of_code_point[token->getStartIndex()],
                         byte_of_code_point[token->getStopIndex() + 1], static_cast<std::uint32_t>(token->getLine()),
                         static_cast<std::uint32_t>(token->getCharPositionInLine())});
  }
  const auto end = static_cast<std::uint32_t>(text.size());
  out.push_back(Lexeme{TokenKind::end_of_file, end, end, static_cast<std::uint32_t>(lexer.getLine()),
                       static_cast<std::uint32_t>(lexer.getCharPositionInLine())});
  return out;
}

}  // namespace allot::syntax
