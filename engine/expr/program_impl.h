// The compiled form of a Program and its evaluator. Internal to engine/expr.
//
// A Program is a vector of Nodes; children are indices into it. Variables
// are pre-resolved to slots, comprehension variables to local slots,
// constant sub-expressions are folded, constant regexes and time zones are
// prepared at compile time. Eval walks the tree recursively (its depth is
// bounded by Limits::max_depth) and passes values around as Refs, which
// borrow constants and variables instead of copying them.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "expr/expr.h"
#include "expr/internal.h"

namespace re2 {
class RE2;
}

namespace cairn::expr::internal {

enum class Op : uint8_t {
  kConst,
  kVar,    // slot: dense variable index; var_slot: Activation slot
  kLocal,  // slot: comprehension variable
  kNow,
  kSelect,  // a.field
  kHas,     // has(a.field)
  kIndex,   // a[b]
  kList,    // [args...]
  kMap,     // {args[0]: args[1], ...}
  kNot,
  kNeg,
  kAnd,
  kOr,
  kTernary,  // a ? b : c
  kEq,
  kNe,
  kLt,
  kLe,
  kGt,
  kGe,
  kIn,
  kAdd,
  kSub,
  kMul,
  kDiv,
  kMod,
  kCall,  // fn(args...)
  // Macros over the range a with the variable in local `slot`.
  kAll,        // b: predicate
  kExists,     // b: predicate
  kExistsOne,  // b: predicate
  kMapMacro,   // b: transform; c: filter or -1
  kFilter,     // b: predicate
};

struct Node;
class EvalState;

// A builtin function. Returns false with `error` set when it does not apply.
struct CallArgs {
  const Node& node;
  EvalState& state;
  const Value* const* args;
  int count;
};
using BuiltinFn = bool (*)(const CallArgs& call, Value& out, std::string& error);

struct Node {
  Op op = Op::kConst;
  bool pure = true;    // kCall: no dependence on the clock
  int32_t offset = 0;  // source byte offset errors point at
  int32_t a = -1, b = -1, c = -1;
  int32_t slot = -1;
  int32_t var_slot = -1;
  Value constant;    // kConst
  std::string name;  // kSelect/kHas field; kCall function name
  std::vector<int32_t> args;
  BuiltinFn fn = nullptr;
  std::shared_ptr<const re2::RE2> regex;  // kCall matches() with a constant pattern
  bool has_zone = false;                  // kCall with a constant time zone argument
  Zone zone;
};

// The compiled form (Program::Impl derives from it).
struct CompiledProgram {
  std::string source;
  SourceLocation at;
  Limits limits;
  std::vector<Node> nodes;
  int32_t root = -1;
  int32_t var_count = 0;    // dense variable indices used by kVar
  int32_t local_count = 0;  // comprehension variables in scope at most
  std::vector<int> used_slots;
  Type result_type;
  // When the tree is only comparisons of a variable's field with a
  // constant, joined by && and || (ComparisonsOnly), the same in a compact
  // form, root first, built by Compile: what Program::EvalComparisons
  // walks, a few cache lines instead of every node's. Empty otherwise.
  struct Flat {
    Op op = Op::kAnd;
    bool field_left = true;  // a comparison: the field is its left operand
    int32_t a = -1, b = -1;  // && and ||: the operands' entries in `flat`
    int32_t var_slot = -1;   // a comparison: the variable, and its field
    std::string_view field;  // (a view of the select node's name: the same address)
    Value constant;
  };
  std::vector<Flat> flat;

  // "file:line:col" of a byte offset into the source.
  std::string Where(int32_t offset) const;
};

// A value produced while evaluating: borrowed from storage that outlives the
// evaluation step (constants, variables, elements of borrowed containers) or
// owned. An error Ref carries no value; its message is in the EvalState.
class Ref {
 public:
  Ref() = default;
  static Ref Borrow(const Value& v) {
    Ref r;
    r.ptr_ = &v;
    return r;
  }
  static Ref Own(Value v) {
    Ref r;
    r.owned_ = std::move(v);
    return r;
  }
  static Ref Error() {
    Ref r;
    r.error_ = true;
    return r;
  }
  bool is_error() const { return error_; }
  bool borrowed() const { return ptr_ != nullptr; }
  const Value& get() const { return ptr_ != nullptr ? *ptr_ : owned_; }
  Value take() && { return ptr_ != nullptr ? *ptr_ : std::move(owned_); }
  // An element of this value: borrowed when this is, else copied.
  Ref Part(const Value& element) const { return borrowed() ? Borrow(element) : Own(element); }

 private:
  const Value* ptr_ = nullptr;
  Value owned_;
  bool error_ = false;
};

class EvalState {
 public:
  EvalState(const CompiledProgram& program, const Activation& activation, Value* vars,
            bool* resolved, const Value** locals)
      : program_(program),
        activation_(activation),
        vars_(vars),
        resolved_(resolved),
        locals_(locals) {}

  Ref Eval(int32_t index);

  // Records an error at `node` and returns an error Ref.
  Ref Fail(const Node& node, std::string message) {
    error_offset_ = node.offset;
    error_ = std::move(message);
    return Ref::Error();
  }
  Ref StepLimit(const Node& node) {
    return Fail(node, "evaluation took more than " + std::to_string(program_.limits.max_steps) +
                          " steps (the limit)");
  }
  const Value& Now();
  TimestampMs NowMs() const { return activation_.Now(); }
  int32_t error_offset() const { return error_offset_; }
  const std::string& error() const { return error_; }

 private:
  struct SavedError {
    int32_t offset = 0;
    std::string message;
  };
  SavedError SaveError() { return {error_offset_, std::move(error_)}; }
  void RestoreError(SavedError e) {
    error_offset_ = e.offset;
    error_ = std::move(e.message);
  }

  Ref EvalLogical(const Node& n, bool is_and);
  Ref EvalSelect(const Node& n);
  Ref EvalIndex(const Node& n);
  Ref EvalCall(const Node& n);
  Ref EvalList(const Node& n);
  Ref EvalMap(const Node& n);
  Ref EvalMacro(const Node& n);
  Ref EvalArithmetic(const Node& n);
  Ref EvalIn(const Node& n);

  const CompiledProgram& program_;
  const Activation& activation_;
  Value* vars_;
  bool* resolved_;
  const Value** locals_;
  int64_t steps_ = 0;
  bool now_resolved_ = false;
  Value now_;
  int32_t error_offset_ = 0;
  std::string error_;
};

// Added to "'+' cannot be applied to int and double": CEL never converts
// numbers implicitly in arithmetic.
inline constexpr std::string_view kConvertHint =
    " (numbers of different types: convert one side with int(), uint() or double())";

// Arithmetic on two values (+ - * / %); false with `error` when it fails.
bool Arithmetic(Op op, const Value& a, const Value& b, Value& out, std::string& error);
// Unary minus.
bool Negate(const Value& a, Value& out, std::string& error);

// ---- builtins (builtins.cc)

// Parameter and result kinds of one overload; kDyn matches anything.
struct Signature {
  std::vector<Type::Base> params;  // receiver first for receiver-style calls
  Type::Base result;
};

struct Builtin {
  std::string_view name;
  bool global = false;    // callable as name(x, ...)
  bool receiver = false;  // callable as x.name(...)
  bool pure = true;       // false: reads the clock
  std::vector<Signature> signatures;
  BuiltinFn fn = nullptr;
};

// Whether the tree at `index` is only comparisons (==, !=, <, <=, >, >=) of
// a variable's field (`v.f`) with a constant, joined by && and ||.
bool ComparisonsOnly(const CompiledProgram& p, int32_t index);
// Fills p.flat from the tree at p.root, which is ComparisonsOnly.
void Flatten(CompiledProgram& p);

// The builtin named `name`, or null.
const Builtin* FindBuiltin(std::string_view name);
// Names of all builtins and macros, for "did you mean".
std::vector<std::string_view> BuiltinNames();
// "int", "list", "google.protobuf.Timestamp" ...: a type name usable as an
// identifier (type(x) == string), or empty.
bool IsTypeName(std::string_view name);

}  // namespace cairn::expr::internal

namespace cairn::expr {
struct Program::Impl : internal::CompiledProgram {};
}  // namespace cairn::expr
