// The syntax tree of one `.allot` file: plain C++ values, a source range on
// every node. Meaning (kinds, property keys, units) is given by sema.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "compiler/base/source.h"

namespace allot::ast {

// Names and numbers are slices of the source text, which the
// SourceManager holds for longer than any tree of it.
struct Identifier {
  std::string_view text;
  SourceRange range;
};

// ---- expressions ----------------------------------------------------------

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

// A number as written, split into its digits and its glued unit suffix:
// `500m` is {"500", "m"}, `0.5` is {"0.5", ""}.
struct NumberLit {
  std::string_view digits;
  std::string_view unit;
};
struct StringLit {
  std::string value;  // escapes resolved
};
struct NameRef {
  std::string_view name;
};
struct MemberExpr {
  ExprPtr object;
  Identifier member;
};
struct CallExpr {
  Identifier callee;
  std::vector<ExprPtr> args;
};
enum class UnaryOp { negate, logical_not };
struct UnaryExpr {
  UnaryOp op;
  ExprPtr operand;
};
enum class BinaryOp { mul, div, add, sub, eq, ne, lt, le, gt, ge, logical_and, logical_or };
struct BinaryExpr {
  BinaryOp op;
  ExprPtr lhs;
  ExprPtr rhs;
};

struct Expr {
  SourceRange range;
  std::variant<NumberLit, StringLit, NameRef, MemberExpr, CallExpr, UnaryExpr, BinaryExpr> node;
};

const char* spelling(BinaryOp op);

// ---- declarations and values ---------------------------------------------

struct Property;
struct Declaration;

struct Assertion {
  ExprPtr expr;
  std::optional<std::string> label;
  SourceRange range;
};

struct Body {
  std::vector<Property> properties;
  std::vector<Declaration> declarations;
  std::vector<Assertion> assertions;
  SourceRange range;
};

struct Value;

struct ScalarValue {
  ExprPtr expr;
};
// `low..high`, or `low..` with no upper bound.
struct RangeValue {
  ExprPtr low;
  ExprPtr high;  // null when open
};
struct ListValue {
  std::vector<Value> items;
};
// `{ k = v }` or a tagged object such as `subscription { term = 12mo }`.
// The body is boxed: objects are rare, and inline it would make every
// value (and so every property) half as large again.
struct ObjectValue {
  std::optional<Identifier> tag;
  std::unique_ptr<Body> body;  // never null
};
// `16 x a100-8`
struct NodesValue {
  NumberLit count;
  SourceRange count_range;
  Identifier flavor;
};

struct Value {
  SourceRange range;
  std::variant<ScalarValue, RangeValue, ListValue, ObjectValue, NodesValue> node;
};

struct Property {
  Identifier key;
  Value value;
  SourceRange range;
};

// `kind name [on target] { body }` or `kind name = value`.
struct Declaration {
  Identifier kind;
  Identifier name;  // the whole name as written, dots included
  bool dotted_name = false;
  std::optional<Identifier> target;
  std::optional<Body> body;
  std::unique_ptr<Value> value;  // `= value` declarations are few: boxed
  SourceRange range;
};

struct Import {
  std::string path;
  SourceRange range;
};

struct File {
  FileId id = kNoFile;
  std::vector<Import> imports;
  std::vector<Declaration> declarations;
  std::vector<Assertion> assertions;
};

}  // namespace allot::ast
