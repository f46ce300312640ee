// CEL text -> syntax tree. Internal to engine/expr.
//
// Recursive descent over a token vector. Every recursion goes through the
// expression rule, which counts nesting, and every node records the depth of
// its subtree, so both are bounded by max_depth: deep input is an error,
// never a stack overflow. Chains of && and || become balanced trees (as in
// cel-go), so 100 conditions joined by || nest only 7 levels.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "expr/expr.h"

namespace cairn::expr::internal {

enum class AstKind : uint8_t {
  kConst,    // value
  kIdent,    // name (root_scope: written with a leading '.')
  kSelect,   // kids[0].name
  kIndex,    // kids[0][kids[1]]
  kCall,     // name(kids...), or kids[0].name(kids[1..]) when receiver
  kList,     // [kids...]
  kMap,      // {kids[0]: kids[1], ...}
  kNot,      // !kids[0]
  kNeg,      // -kids[0]
  kBinary,   // kids[0] op kids[1]
  kAnd,      // kids[0] && kids[1]
  kOr,       // kids[0] || kids[1]
  kTernary,  // kids[0] ? kids[1] : kids[2]
};

enum class BinOp : uint8_t { kAdd, kSub, kMul, kDiv, kMod, kEq, kNe, kLt, kLe, kGt, kGe, kIn };
std::string_view BinOpText(BinOp op);

struct Ast {
  AstKind kind = AstKind::kConst;
  BinOp op = BinOp::kAdd;
  int32_t offset = 0;  // byte offset errors point at (operator, field, function name)
  int32_t begin = 0;   // source span of the whole node
  int32_t end = 0;
  int32_t depth = 1;  // height of the subtree
  bool receiver = false;
  bool root_scope = false;
  Value value;
  std::string name;
  std::vector<std::unique_ptr<Ast>> kids;
};

struct ParseError {
  int32_t offset = 0;
  std::string message;
};

// Parses `source` (valid UTF-8 is checked here). On failure returns null and
// fills `error`.
std::unique_ptr<Ast> Parse(std::string_view source, int max_depth, ParseError& error);

}  // namespace cairn::expr::internal
