// The one file of the compiler that includes ANTLR-generated headers.
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

namespace allot::syntax {
namespace {

using antlr4::Token;
using G = AllotParser;

// ANTLR positions count code points; the source manager counts bytes.
class OffsetMap {
 public:
  explicit OffsetMap(std::string_view text) {
    bool ascii = true;
    for (unsigned char c : text) {
      if (c >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (ascii) return;
    for (std::uint32_t i = 0; i < text.size(); ++i) {
      if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) byte_of_code_point_.push_back(i);
    }
    byte_of_code_point_.push_back(static_cast<std::uint32_t>(text.size()));
  }
  std::uint32_t byte(std::size_t code_point) const {
    if (byte_of_code_point_.empty()) return static_cast<std::uint32_t>(code_point);
    if (code_point >= byte_of_code_point_.size()) return byte_of_code_point_.back();
    return byte_of_code_point_[code_point];
  }

 private:
  std::vector<std::uint32_t> byte_of_code_point_;
};

std::string describe_token(const Token* token) {
  if (token == nullptr || token->getType() == Token::EOF) return "end of file";
  std::string text = token->getText();
  if (text.size() > 24) text = text.substr(0, 21) + "...";
  return fmt::format("`{}`", text);
}

class ErrorReporter : public antlr4::BaseErrorListener {
 public:
  ErrorReporter(FileId file, const OffsetMap& offsets, DiagnosticSink& sink, std::size_t max_errors,
                std::optional<SourceRange> unclosed)
      : file_(file), offsets_(offsets), sink_(sink), max_errors_(max_errors), unclosed_(unclosed) {}

  void syntaxError(antlr4::Recognizer* recognizer, Token* offending, size_t /*line*/, size_t /*column*/,
                   const std::string& /*msg*/, std::exception_ptr /*e*/) override {
    ++count_;
    if (count_ > max_errors_) return;
    SourceRange range{file_, 0, 0};
    if (offending != nullptr) {
      range.begin = offsets_.byte(offending->getStartIndex());
      range.end = offending->getType() == Token::EOF ? range.begin : offsets_.byte(offending->getStopIndex() + 1);
    }
    Diagnostic& d = sink_.error(code::E0004, range, fmt::format("unexpected {}", describe_token(offending)));
    const bool at_end = offending == nullptr || offending->getType() == Token::EOF;
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

  std::size_t count() const { return count_; }

 private:
  static std::string join_list(const std::vector<std::string>& items) {
    std::string out;
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (i > 0) out += ", ";
      out += items[i];
    }
    return out;
  }

  FileId file_;
  const OffsetMap& offsets_;
  DiagnosticSink& sink_;
  std::size_t max_errors_;
  std::optional<SourceRange> unclosed_;
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
bool prescan(const std::vector<Token*>& tokens, FileId file, const OffsetMap& offsets, DiagnosticSink& sink,
             const ParseLimits& limits, std::optional<SourceRange>& unclosed) {
  bool ok = true;
  std::size_t depth = 0;
  std::vector<SourceRange> open;
  std::size_t operators = 0;
  std::size_t lexical_errors = 0;
  for (const Token* token : tokens) {
    const std::size_t type = token->getType();
    const SourceRange range{file, offsets.byte(token->getStartIndex()), offsets.byte(token->getStopIndex() + 1)};
    if (type == AllotLexer::UNEXPECTED_CHAR || type == AllotLexer::UNTERMINATED_STRING) {
      ok = false;
      if (++lexical_errors > limits.max_syntax_errors_per_file) continue;
      if (type == AllotLexer::UNTERMINATED_STRING) {
        sink.error(code::E0003, range, "unterminated string")
            .add_help("close the string with `\"` before the end of the line");
      } else {
        const std::string text = token->getText();
        Diagnostic& d = sink.error(code::E0002, range, fmt::format("unexpected character `{}`", text));
        if (text == "'") d.add_help("strings are written in double quotes");
        if (text == ";") d.add_help("separate items with `,` or a new line");
      }
      continue;
    }
    if (is_opener(type)) {
      open.push_back(range);
      if (++depth > limits.max_nesting) {
        sink.error(code::E0005, range, fmt::format("nesting deeper than {} levels", limits.max_nesting))
            .add_help("flatten the structure; no policy needs this depth");
        return false;
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
        return false;
      }
    } else if (type != AllotLexer::IDENT && type != AllotLexer::NUMBER && type != AllotLexer::STRING &&
               type != AllotLexer::LPAREN && type != AllotLexer::RPAREN && type != AllotLexer::X) {
      operators = 0;
    }
  }
  if (!open.empty()) unclosed = open.back();
  return ok;
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
class Builder {
 public:
  Builder(FileId file, std::string_view text, const OffsetMap& offsets) : file_(file), text_(text), offsets_(offsets) {}

  ast::File build(G::PolicyFileContext* ctx) {
    ast::File out;
    out.id = file_;
    for (auto* import : ctx->importDecl()) {
      out.imports.push_back(ast::Import{unescape(import->STRING()->getText()), range(import)});
    }
    for (auto* item : ctx->topItem()) {
      if (auto* a = item->assertion()) {
        out.assertions.push_back(assertion(a));
      } else {
        out.declarations.push_back(declaration(item->declaration()));
      }
    }
    return out;
  }

 private:
  SourceRange range(antlr4::ParserRuleContext* ctx) const {
    const Token* start = ctx->getStart();
    const Token* stop = ctx->getStop();
    SourceRange r{file_, offsets_.byte(start->getStartIndex()), offsets_.byte(start->getStartIndex())};
    if (stop != nullptr && stop->getType() != Token::EOF && stop->getStopIndex() + 1 >= start->getStartIndex()) {
      r.end = offsets_.byte(stop->getStopIndex() + 1);
    }
    return r;
  }
  SourceRange range(const Token* token) const {
    return SourceRange{file_, offsets_.byte(token->getStartIndex()), offsets_.byte(token->getStopIndex() + 1)};
  }
  // Token text is sliced from the source: ANTLR's getText() converts from
  // UTF-32 and allocates per call, which dominates on large policies.
  std::string text_of(const Token* token) const {
    const SourceRange r = range(token);
    return std::string(text_.substr(r.begin, r.end - r.begin));
  }
  ast::Identifier identifier(G::WordContext* ctx) const {
    const Token* token = ctx->getStart();
    return ast::Identifier{text_of(token), range(token)};
  }

  static ast::NumberLit number(const std::string& text) {
    std::size_t split = 0;
    while (split < text.size() && (std::isdigit(static_cast<unsigned char>(text[split])) || text[split] == '.'))
      ++split;
    return ast::NumberLit{text.substr(0, split), text.substr(split)};
  }

  ast::Assertion assertion(G::AssertionContext* ctx) {
    ast::Assertion out;
    out.expr = expr(ctx->expr());
    if (ctx->STRING() != nullptr) out.label = unescape(ctx->STRING()->getText());
    out.range = range(ctx);
    return out;
  }

  ast::Declaration declaration(G::DeclarationContext* ctx) {
    ast::Declaration out;
    out.kind = identifier(ctx->kind);
    G::DeclNameContext* name = ctx->declName();
    const SourceRange name_range = range(name);
    out.name =
        ast::Identifier{std::string(text_.substr(name_range.begin, name_range.end - name_range.begin)), name_range};
    out.dotted_name = !name->DOT().empty();
    if (ctx->target != nullptr) out.target = identifier(ctx->target);
    if (ctx->body() != nullptr) out.body = body(ctx->body());
    if (ctx->value() != nullptr) out.value = value(ctx->value());
    out.range = range(ctx);
    return out;
  }

  ast::Body body(G::BodyContext* ctx) {
    ast::Body out;
    out.range = range(ctx);
    for (auto* member : ctx->member()) {
      if (auto* p = member->property()) {
        out.properties.push_back(ast::Property{identifier(p->key), value(p->value()), range(p)});
      } else if (auto* d = member->declaration()) {
        out.declarations.push_back(declaration(d));
      } else if (auto* a = member->assertion()) {
        out.assertions.push_back(assertion(a));
      }
    }
    return out;
  }

  ast::Value value(G::ValueContext* ctx) {
    ast::Value out;
    out.range = range(ctx);
    if (auto* list = dynamic_cast<G::ListValueContext*>(ctx)) {
      ast::ListValue l;
      for (auto* item : list->value()) l.items.push_back(value(item));
      out.node = std::move(l);
    } else if (auto* object = dynamic_cast<G::ObjectValueContext*>(ctx)) {
      ast::ObjectValue o;
      if (object->word() != nullptr) o.tag = identifier(object->word());
      o.body = body(object->body());
      out.node = std::move(o);
    } else if (auto* nodes = dynamic_cast<G::NodesValueContext*>(ctx)) {
      out.node = ast::NodesValue{number(text_of(nodes->count)), range(nodes->count), identifier(nodes->word())};
    } else {
      auto* scalar = static_cast<G::ScalarValueContext*>(ctx);
      if (scalar->RANGE() != nullptr) {
        ast::RangeValue rv;
        rv.low = expr(scalar->low);
        if (scalar->high != nullptr) rv.high = expr(scalar->high);
        out.node = std::move(rv);
      } else {
        out.node = ast::ScalarValue{expr(scalar->low)};
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
      default:
        return ast::BinaryOp::ge;
    }
  }

  ast::ExprPtr binary(ast::BinaryOp op, G::ExprContext* lhs, G::ExprContext* rhs) {
    return std::make_unique<ast::Expr>(ast::Expr{{}, ast::BinaryExpr{op, expr(lhs), expr(rhs)}});
  }

  ast::ExprPtr expr(G::ExprContext* ctx) {
    ast::ExprPtr out;
    if (auto* m = dynamic_cast<G::MemberExprContext*>(ctx)) {
      out = std::make_unique<ast::Expr>(ast::Expr{{}, ast::MemberExpr{expr(m->expr()), identifier(m->word())}});
    } else if (auto* c = dynamic_cast<G::CallExprContext*>(ctx)) {
      ast::CallExpr call;
      call.callee = identifier(c->word());
      for (auto* arg : c->expr()) call.args.push_back(expr(arg));
      out = std::make_unique<ast::Expr>(ast::Expr{{}, std::move(call)});
    } else if (auto* p = dynamic_cast<G::ParenExprContext*>(ctx)) {
      out = expr(p->expr());
    } else if (auto* u = dynamic_cast<G::UnaryExprContext*>(ctx)) {
      const auto op = u->op->getType() == AllotLexer::NOT ? ast::UnaryOp::logical_not : ast::UnaryOp::negate;
      out = std::make_unique<ast::Expr>(ast::Expr{{}, ast::UnaryExpr{op, expr(u->expr())}});
    } else if (auto* mul = dynamic_cast<G::MulExprContext*>(ctx)) {
      out = binary(binary_op(mul->op->getType()), mul->expr(0), mul->expr(1));
    } else if (auto* add = dynamic_cast<G::AddExprContext*>(ctx)) {
      out = binary(binary_op(add->op->getType()), add->expr(0), add->expr(1));
    } else if (auto* cmp = dynamic_cast<G::CompareExprContext*>(ctx)) {
      out = binary(binary_op(cmp->op->getType()), cmp->expr(0), cmp->expr(1));
    } else if (auto* a = dynamic_cast<G::AndExprContext*>(ctx)) {
      out = binary(ast::BinaryOp::logical_and, a->expr(0), a->expr(1));
    } else if (auto* o = dynamic_cast<G::OrExprContext*>(ctx)) {
      out = binary(ast::BinaryOp::logical_or, o->expr(0), o->expr(1));
    } else if (auto* n = dynamic_cast<G::NumberExprContext*>(ctx)) {
      out = std::make_unique<ast::Expr>(ast::Expr{{}, number(text_of(n->getStart()))});
    } else if (auto* s = dynamic_cast<G::StringExprContext*>(ctx)) {
      out = std::make_unique<ast::Expr>(ast::Expr{{}, ast::StringLit{unescape(s->STRING()->getText())}});
    } else {
      auto* name = static_cast<G::NameExprContext*>(ctx);
      out = std::make_unique<ast::Expr>(ast::Expr{{}, ast::NameRef{text_of(name->getStart())}});
    }
    out->range = range(ctx);
    return out;
  }

  FileId file_;
  std::string_view text_;
  const OffsetMap& offsets_;
};

}  // namespace

std::optional<ast::File> parse(const SourceManager& sources, FileId file, DiagnosticSink& sink,
                               const ParseLimits& limits) {
  const std::string_view text = sources.text(file);
  if (text.size() > limits.max_file_bytes) {
    sink.error(code::E0006, SourceRange{file, 0, 0},
               fmt::format("file is {} bytes, more than the limit of {} bytes", text.size(), limits.max_file_bytes))
        .add_help("split the policy into several files joined with `import`");
    return std::nullopt;
  }
  if (const std::size_t bad = find_invalid_utf8(text); bad != std::string_view::npos) {
    const auto at = static_cast<std::uint32_t>(bad);
    sink.error(code::E0001, SourceRange{file, at, at + 1},
               fmt::format("invalid UTF-8 byte `\\x{:02x}`", static_cast<unsigned char>(text[bad])))
        .add_help("policy files must be UTF-8 text");
    return std::nullopt;
  }

  const OffsetMap offsets(text);
  antlr4::ANTLRInputStream input(text.data(), text.size());
  AllotLexer lexer(&input);
  lexer.removeErrorListeners();
  antlr4::CommonTokenStream tokens(&lexer);
  tokens.fill();
  std::optional<SourceRange> unclosed;
  if (!prescan(tokens.getTokens(), file, offsets, sink, limits, unclosed)) return std::nullopt;
  AllotParser parser(&tokens);
  parser.removeErrorListeners();

  // Fast path: SLL prediction, bailing out on the first problem; only then
  // pay for full LL prediction with error reporting and recovery.
  parser.getInterpreter<antlr4::atn::ParserATNSimulator>()->setPredictionMode(antlr4::atn::PredictionMode::SLL);
  parser.setErrorHandler(std::make_shared<antlr4::BailErrorStrategy>());
  G::PolicyFileContext* tree = nullptr;
  try {
    tree = parser.policyFile();
  } catch (const antlr4::ParseCancellationException&) {
    tree = nullptr;
  }
  if (tree == nullptr) {
    tokens.seek(0);
    parser.reset();
    ErrorReporter reporter(file, offsets, sink, limits.max_syntax_errors_per_file, unclosed);
    parser.addErrorListener(&reporter);
    parser.setErrorHandler(std::make_shared<antlr4::DefaultErrorStrategy>());
    parser.getInterpreter<antlr4::atn::ParserATNSimulator>()->setPredictionMode(antlr4::atn::PredictionMode::LL);
    parser.policyFile();
    parser.removeErrorListeners();
    if (reporter.count() > 0) return std::nullopt;
    // SLL failed but LL succeeded: parse again to get the tree (rare).
    tokens.seek(0);
    parser.reset();
    tree = parser.policyFile();
  }
  Builder builder(file, text, offsets);
  return builder.build(tree);
}

ReadOutcome read_source_file(const std::string& path, std::size_t max_bytes, std::string& out) {
  ReadOutcome r;
  // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    r.problem = std::strerror(errno);
    return r;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    r.problem = std::strerror(errno);
    ::close(fd);
    return r;
  }
  if (!S_ISREG(st.st_mode)) {
    r.problem = S_ISDIR(st.st_mode) ? "it is a directory" : "not a regular file";
    ::close(fd);
    return r;
  }
  // The size limit applies while reading: a file that grows, or lies about
  // its size (/proc), is never read past it.
  std::string text;
  char buffer[65536];
  for (;;) {
    const std::size_t want = std::min(sizeof(buffer), max_bytes + 1 - text.size());
    const ssize_t n = ::read(fd, buffer, want);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) {
      r.problem = std::strerror(errno);
      ::close(fd);
      return r;
    }
    if (n == 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
    if (text.size() > max_bytes) {
      r.too_large = true;
      r.problem = fmt::format("more than the limit of {} bytes", max_bytes);
      ::close(fd);
      return r;
    }
  }
  ::close(fd);
  out = std::move(text);
  r.ok = true;
  return r;
}

namespace {

std::string normalize(const std::filesystem::path& p) {
  std::error_code ec;
  const std::filesystem::path absolute = std::filesystem::absolute(p, ec);
  if (ec) return p.lexically_normal().string();
  auto canonical = std::filesystem::weakly_canonical(absolute, ec);
  std::string out = (ec ? absolute.lexically_normal() : canonical.lexically_normal()).string();
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

// Is `path` (normalized) inside directory `root` (normalized)?
bool inside(const std::string& path, const std::string& root) {
  if (root == "/") return !path.empty() && path[0] == '/';
  return path.size() > root.size() && path.compare(0, root.size(), root) == 0 && path[root.size()] == '/';
}

}  // namespace

LoadResult load(SourceManager& sources, const std::vector<std::string>& paths, DiagnosticSink& sink,
                const ParseLimits& limits, const ImportPolicy& imports) {
  LoadResult result;
  // The path each file was first named by, keyed by its canonical path.
  std::map<std::string, FileId> loaded;
  std::set<std::string> in_progress;
  std::vector<std::string> stack;  // paths as shown, for the cycle note
  std::vector<std::string> roots;
  for (const std::string& r : imports.roots) roots.push_back(normalize(r));
  if (imports.roots.empty()) {
    for (const std::string& p : paths) {
      const std::filesystem::path parent = std::filesystem::path(p).parent_path();
      roots.push_back(normalize(parent.empty() ? std::filesystem::path(".") : parent));
    }
  }
  for (const std::string& r : imports.extra_roots) roots.push_back(normalize(r));

  std::function<void(const std::string&, const std::string&, SourceRange)> visit = [&](const std::string& shown_path,
                                                                                       const std::string& key,
                                                                                       SourceRange imported_at) {
    if (loaded.count(key) != 0) return;
    std::string text;
    const ReadOutcome read = read_source_file(shown_path, limits.max_file_bytes, text);
    if (!read.ok) {
      if (read.too_large) {
        sink.error(code::E0006, imported_at, fmt::format("file `{}` is {}", shown_path, read.problem))
            .add_help("split the policy into several files joined with `import`");
      } else if (imported_at.valid()) {
        sink.error(code::E0009, imported_at,
                   fmt::format("cannot read imported file `{}`: {}", shown_path, read.problem))
            .add_help("import paths are relative to the importing file");
      } else {
        result.io_error = true;
        sink.error(code::E0008, SourceRange{}, fmt::format("cannot read `{}`: {}", shown_path, read.problem));
      }
      return;
    }
    const FileId id = sources.add(shown_path, std::move(text));
    loaded.emplace(key, id);
    std::optional<ast::File> file;
    if (imported_at.valid()) {
      // Its diagnostics would quote it; only where it failed is told.
      DiagnosticSink quiet;
      file = parse(sources, id, quiet, limits);
      if (!file) {
        std::string where;
        for (const Diagnostic& d : quiet.diagnostics()) {
          if (d.severity != Severity::error) continue;
          if (d.range.valid()) {
            const LineColumn lc = sources.line_column(d.range.file, d.range.begin);
            where = fmt::format(" (first error {} at line {}, column {})", d.code, lc.line, lc.column);
          } else {
            where = fmt::format(" (first error {})", d.code);
          }
          break;
        }
        sink.error(code::E0011, imported_at,
                   fmt::format("imported file `{}` is not a valid policy{}", shown_path, where))
            .add_help(fmt::format("run `allot check {}` to see its problems", shown_path));
        return;
      }
    } else {
      file = parse(sources, id, sink, limits);
      if (!file) return;
    }
    in_progress.insert(key);
    stack.push_back(shown_path);
    const std::filesystem::path dir = std::filesystem::path(shown_path).parent_path();
    for (const ast::Import& import : file->imports) {
      const std::filesystem::path target = dir / import.path;
      const std::string target_key = normalize(target);
      if (std::none_of(roots.begin(), roots.end(), [&](const std::string& r) { return inside(target_key, r); })) {
        sink.error(code::E0012, import.range, fmt::format("import of `{}` leaves the policy's directory", import.path))
            .note("imports may lead only below the directories of the files checked")
            .add_help("to allow it, pass `--import-root DIR` with a directory that holds the imported file");
        continue;
      }
      if (in_progress.count(target_key) != 0) {
        std::string chain;
        for (const std::string& step : stack) chain += fmt::format("`{}` -> ", step);
        chain += fmt::format("`{}`", target.lexically_normal().string());
        sink.error(code::E0010, import.range, fmt::format("cyclic import of `{}`", import.path))
            .note(fmt::format("import chain: {}", chain))
            .add_help("move the shared declarations into a file that both import");
        continue;
      }
      visit(target.lexically_normal().string(), target_key, import.range);
    }
    stack.pop_back();
    in_progress.erase(key);
    result.files.push_back(std::move(*file));
  };

  for (const std::string& path : paths) visit(path, normalize(path), SourceRange{});
  return result;
}

}  // namespace allot::syntax
