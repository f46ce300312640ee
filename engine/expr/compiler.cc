// Syntax tree -> checked, compiled Program. One pass: each node is
// type-checked against the declarations while its evaluation node is
// emitted; sub-expressions whose inputs are all constant are evaluated here
// (constant folding), so `timestamp('2026-01-01T00:00:00Z')`, regexes and
// literal lists cost nothing per evaluation.
#include <re2/re2.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <deque>

#include "expr/parser.h"
#include "expr/program_impl.h"

namespace cairn::expr {
namespace internal {
namespace {

using B = Type::Base;
using TypeRef = const Type*;

constexpr size_t kMaxErrors = 10;
constexpr int kHardMaxDepth = 1000;  // recursion guard whatever Limits say

TypeRef Prim(B b) {
  static const std::array<Type, 12> kTypes = [] {
    std::array<Type, 12> t;
    for (size_t i = 0; i < t.size(); ++i) t[i].base = static_cast<B>(i);
    return t;
  }();
  return &kTypes[static_cast<size_t>(b)];
}
TypeRef DynType() { return Prim(B::kDyn); }
bool Known(TypeRef t) { return t->base != B::kDyn; }
bool IsNumeric(B b) { return b == B::kInt || b == B::kUint || b == B::kDouble; }
TypeRef ElementOf(const Type& t) { return t.element ? t.element.get() : DynType(); }

B BaseOfKind(Kind k) {
  switch (k) {
    case Kind::kNull:
      return B::kNull;
    case Kind::kBool:
      return B::kBool;
    case Kind::kInt:
      return B::kInt;
    case Kind::kUint:
      return B::kUint;
    case Kind::kDouble:
      return B::kDouble;
    case Kind::kString:
      return B::kString;
    case Kind::kBytes:
      return B::kBytes;
    case Kind::kList:
      return B::kList;
    case Kind::kMap:
      return B::kMap;
    case Kind::kTimestamp:
      return B::kTimestamp;
    case Kind::kDuration:
      return B::kDuration;
    case Kind::kType:
      return B::kDyn;
  }
  return B::kDyn;
}

std::string_view BaseName(B b) {
  switch (b) {
    case B::kDyn:
      return "dyn";
    case B::kNull:
      return "null";
    case B::kBool:
      return "bool";
    case B::kInt:
      return "int";
    case B::kUint:
      return "uint";
    case B::kDouble:
      return "double";
    case B::kString:
      return "string";
    case B::kBytes:
      return "bytes";
    case B::kList:
      return "list";
    case B::kMap:
      return "map";
    case B::kTimestamp:
      return "timestamp";
    case B::kDuration:
      return "duration";
  }
  return "?";
}

std::string TypeText(const Type& t) {
  if (t.base == B::kList && t.element) return "list(" + TypeText(*t.element) + ")";
  if (t.base == B::kMap && !t.fields.empty()) return "object";
  if (t.base == B::kMap && t.element) return "map(" + TypeText(*t.element) + ")";
  return std::string(BaseName(t.base));
}

bool SameType(const Type& a, const Type& b) {
  if (&a == &b) return true;
  if (a.base != b.base) return false;
  if (!a.fields.empty() || !b.fields.empty()) return false;
  if (a.base == B::kList || a.base == B::kMap) return SameType(*ElementOf(a), *ElementOf(b));
  return true;
}

// Optimal string alignment distance, case-insensitive.
size_t EditDistance(std::string_view a, std::string_view b) {
  const size_t n = a.size(), m = b.size();
  std::vector<std::vector<size_t>> d(n + 1, std::vector<size_t>(m + 1));
  for (size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (size_t j = 0; j <= m; ++j) d[0][j] = j;
  const auto lower = [](char c) {
    return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  };
  for (size_t i = 1; i <= n; ++i) {
    for (size_t j = 1; j <= m; ++j) {
      const size_t cost = lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2]) &&
          lower(a[i - 2]) == lower(b[j - 1])) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[n][m];
}

// "; did you mean 'name'?" for the closest candidate, or "".
std::string Suggest(std::string_view name, const std::vector<std::string_view>& candidates) {
  if (name.size() > 64) return "";
  if (name.size() < 2) return "";
  const size_t limit = name.size() == 2 ? 1 : name.size() <= 7 ? 2 : 3;
  size_t best = limit + 1;
  std::string_view choice;
  for (std::string_view c : candidates) {
    if (c.size() > 64) continue;
    const size_t dist = EditDistance(name, c);
    if (dist < best) {
      best = dist;
      choice = c;
    }
  }
  if (choice.empty()) return "";
  return "; did you mean '" + std::string(choice) + "'?";
}

bool IsMacro(std::string_view name) {
  return name == "all" || name == "exists" || name == "exists_one" || name == "map" ||
         name == "filter";
}

// A Signature matches when each known argument has the parameter's base.
bool Matches(const Signature& s, const std::vector<TypeRef>& args) {
  if (s.params.size() != args.size()) return false;
  for (size_t i = 0; i < args.size(); ++i) {
    if (s.params[i] != B::kDyn && Known(args[i]) && args[i]->base != s.params[i]) return false;
  }
  return true;
}

std::string SignatureText(const Signature& s, bool receiver, std::string_view name) {
  std::string out;
  size_t first = 0;
  if (receiver && !s.params.empty()) {
    out += BaseName(s.params[0]);
    out += '.';
    first = 1;
  }
  out += name;
  out += '(';
  for (size_t i = first; i < s.params.size(); ++i) {
    if (i > first) out += ", ";
    out += BaseName(s.params[i]);
  }
  out += ')';
  return out;
}

const std::vector<Signature>& OperatorSignatures(BinOp op) {
  using S = Signature;
  static const std::vector<S> kAdd = {
      {{B::kInt, B::kInt}, B::kInt},
      {{B::kUint, B::kUint}, B::kUint},
      {{B::kDouble, B::kDouble}, B::kDouble},
      {{B::kString, B::kString}, B::kString},
      {{B::kBytes, B::kBytes}, B::kBytes},
      {{B::kList, B::kList}, B::kList},
      {{B::kTimestamp, B::kDuration}, B::kTimestamp},
      {{B::kDuration, B::kTimestamp}, B::kTimestamp},
      {{B::kDuration, B::kDuration}, B::kDuration},
  };
  static const std::vector<S> kSub = {
      {{B::kInt, B::kInt}, B::kInt},
      {{B::kUint, B::kUint}, B::kUint},
      {{B::kDouble, B::kDouble}, B::kDouble},
      {{B::kTimestamp, B::kTimestamp}, B::kDuration},
      {{B::kTimestamp, B::kDuration}, B::kTimestamp},
      {{B::kDuration, B::kDuration}, B::kDuration},
  };
  static const std::vector<S> kMulDiv = {
      {{B::kInt, B::kInt}, B::kInt},
      {{B::kUint, B::kUint}, B::kUint},
      {{B::kDouble, B::kDouble}, B::kDouble},
  };
  static const std::vector<S> kMod = {
      {{B::kInt, B::kInt}, B::kInt},
      {{B::kUint, B::kUint}, B::kUint},
  };
  switch (op) {
    case BinOp::kAdd:
      return kAdd;
    case BinOp::kSub:
      return kSub;
    case BinOp::kMod:
      return kMod;
    default:
      return kMulDiv;
  }
}

Op OpOf(BinOp op) {
  switch (op) {
    case BinOp::kAdd:
      return Op::kAdd;
    case BinOp::kSub:
      return Op::kSub;
    case BinOp::kMul:
      return Op::kMul;
    case BinOp::kDiv:
      return Op::kDiv;
    case BinOp::kMod:
      return Op::kMod;
    case BinOp::kEq:
      return Op::kEq;
    case BinOp::kNe:
      return Op::kNe;
    case BinOp::kLt:
      return Op::kLt;
    case BinOp::kLe:
      return Op::kLe;
    case BinOp::kGt:
      return Op::kGt;
    case BinOp::kGe:
      return Op::kGe;
    case BinOp::kIn:
      return Op::kIn;
  }
  return Op::kEq;
}

bool Foldable(Op op) {
  switch (op) {
    case Op::kConst:
    case Op::kVar:
    case Op::kLocal:
    case Op::kNow:
    case Op::kAll:
    case Op::kExists:
    case Op::kExistsOne:
    case Op::kMapMacro:
    case Op::kFilter:
      return false;
    default:
      return true;
  }
}

// Constant folding runs with no variables and no clock.
class NoActivation final : public Activation {
 public:
  Value Resolve(int) const override { return Value(); }
  TimestampMs Now() const override { return 0; }
};

class Compiler {
 public:
  Compiler(std::string_view source, const Declarations& decls, CompiledProgram& impl)
      : source_(source), decls_(decls), impl_(impl), dense_(decls.variables.size(), -1) {}

  int32_t Compile(const Ast& ast, TypeRef& type) {
    type = DynType();
    switch (ast.kind) {
      case AstKind::kConst:
        type = Prim(BaseOfKind(ast.value.kind()));
        return EmitConst(ast.offset, ast.value);
      case AstKind::kIdent:
        return CompileIdent(ast, type);
      case AstKind::kSelect:
        return CompileSelect(ast, type);
      case AstKind::kIndex:
        return CompileIndex(ast, type);
      case AstKind::kCall:
        return CompileCall(ast, type);
      case AstKind::kList:
        return CompileList(ast, type);
      case AstKind::kMap:
        return CompileMap(ast, type);
      case AstKind::kNot:
      case AstKind::kNeg:
        return CompileUnary(ast, type);
      case AstKind::kBinary:
        return CompileBinary(ast, type);
      case AstKind::kAnd:
      case AstKind::kOr:
        return CompileLogical(ast, type);
      case AstKind::kTernary:
        return CompileTernary(ast, type);
    }
    return EmitConst(ast.offset, Value());
  }

  bool failed() const { return !errors_.empty(); }
  const std::vector<std::pair<int32_t, std::string>>& errors() const { return errors_; }
  std::vector<int> UsedSlots() const {
    std::vector<int> slots;
    for (size_t i = 0; i < dense_.size(); ++i) {
      if (dense_[i] >= 0) slots.push_back(static_cast<int>(i));
    }
    return slots;
  }

 private:
  struct Local {
    std::string_view name;
    TypeRef type;
  };

  void Error(int32_t offset, std::string message) {
    if (errors_.size() < kMaxErrors) errors_.emplace_back(offset, std::move(message));
  }

  // The source text of `ast`, for messages.
  std::string Text(const Ast& ast) const {
    return Snippet(source_.substr(ast.begin, ast.end - ast.begin), true);
  }

  TypeRef Own(Type t) {
    types_.push_back(std::move(t));
    return &types_.back();
  }

  int32_t Emit(Node n) {
    impl_.nodes.push_back(std::move(n));
    return static_cast<int32_t>(impl_.nodes.size() - 1);
  }

  int32_t EmitConst(int32_t offset, Value v) {
    Node n;
    n.op = Op::kConst;
    n.offset = offset;
    n.constant = std::move(v);
    return Emit(std::move(n));
  }

  int32_t EmitVar(int slot, int32_t offset) {
    if (dense_[slot] < 0) dense_[slot] = impl_.var_count++;
    Node n;
    n.op = Op::kVar;
    n.offset = offset;
    n.slot = dense_[slot];
    n.var_slot = slot;
    return Emit(std::move(n));
  }

  // Replaces the node at `index` (whose subtree starts at `mark`) by its
  // value when all its inputs are constant. A failure stays for run time,
  // or is a compile error when `errors_are_fatal`.
  int32_t Fold(size_t mark, int32_t index, bool errors_are_fatal) {
    const Node& n = impl_.nodes[index];
    if (!Foldable(n.op) || !n.pure) return index;
    const auto is_const = [&](int32_t i) { return i < 0 || impl_.nodes[i].op == Op::kConst; };
    if (!is_const(n.a) || !is_const(n.b) || !is_const(n.c)) return index;
    for (const int32_t arg : n.args) {
      if (!is_const(arg)) return index;
    }
    // Folding is bounded by the size of the source, not by the user's step
    // limit (which applies per evaluation).
    NoActivation none;
    const int64_t max_steps = impl_.limits.max_steps;
    impl_.limits.max_steps = std::max<int64_t>(max_steps, 1'000'000);
    EvalState state(impl_, none, nullptr, nullptr, nullptr);
    Ref r = state.Eval(index);
    impl_.limits.max_steps = max_steps;
    if (r.is_error()) {
      if (errors_are_fatal) Error(state.error_offset(), state.error());
      return index;
    }
    Value v = std::move(r).take();
    const int32_t offset = n.offset;
    impl_.nodes.resize(mark);
    return EmitConst(offset, std::move(v));
  }

  // Declared variable, type name or `now`.
  bool ResolveName(const std::string& name, int32_t offset, TypeRef& type, int32_t& index) {
    const int slot = decls_.SlotOf(name);
    if (slot >= 0) {
      type = &decls_.variables[slot].second;
      index = EmitVar(slot, offset);
      return true;
    }
    if (IsTypeName(name)) {
      type = DynType();
      index = EmitConst(offset, Value::TypeValue(name));
      return true;
    }
    if (name == "now") {
      type = Prim(B::kTimestamp);
      Node n;
      n.op = Op::kNow;
      n.offset = offset;
      index = Emit(std::move(n));
      return true;
    }
    return false;
  }

  int32_t CompileIdent(const Ast& ast, TypeRef& type) {
    if (!ast.root_scope) {
      for (size_t i = locals_.size(); i-- > 0;) {
        if (locals_[i].name == ast.name) {
          type = locals_[i].type;
          Node n;
          n.op = Op::kLocal;
          n.offset = ast.offset;
          n.slot = static_cast<int32_t>(i);
          return Emit(std::move(n));
        }
      }
    }
    int32_t index = -1;
    if (ResolveName(ast.name, ast.offset, type, index)) return index;
    std::vector<std::string_view> candidates;
    for (const auto& [name, t] : decls_.variables) candidates.push_back(name);
    for (const Local& l : locals_) candidates.push_back(l.name);
    candidates.push_back("now");
    Error(ast.offset, "unknown variable '" + ast.name + "'" + Suggest(ast.name, candidates));
    type = DynType();
    return EmitConst(ast.offset, Value());
  }

  // "a.b.c" when `ast` is a chain of selections on an identifier that is
  // not a comprehension variable.
  bool QualifiedName(const Ast& ast, std::string& out) const {
    if (ast.kind == AstKind::kIdent) {
      if (ast.root_scope) {
        out = ast.name;
        return true;
      }
      for (const Local& l : locals_) {
        if (l.name == ast.name) return false;
      }
      out = ast.name;
      return true;
    }
    if (ast.kind != AstKind::kSelect || !QualifiedName(*ast.kids[0], out)) return false;
    out += '.';
    out += ast.name;
    return true;
  }

  // The type of `field` on a value of type `t` (the operand of `ast`).
  TypeRef FieldType(const Ast& ast, const Type& t, const std::string& field) {
    switch (t.base) {
      case B::kDyn:
        return DynType();
      case B::kMap:
        if (!t.fields.empty()) {
          const auto it = t.fields.find(field);
          if (it != t.fields.end()) return &it->second;
          if (t.closed) {
            std::vector<std::string_view> names;
            for (const auto& [name, ft] : t.fields) names.push_back(name);
            std::string known;
            for (std::string_view n : names) known += (known.empty() ? "" : ", ") + std::string(n);
            const std::string hint = Suggest(field, names);
            Error(ast.offset, "unknown field '" + field + "' on " + Text(*ast.kids[0]) +
                                  (hint.empty() ? " (it has " + known + ")" : hint));
            return DynType();
          }
        }
        return ElementOf(t);
      default:
        Error(ast.offset,
              Text(*ast.kids[0]) + " is " + TypeText(t) + ", which has no field '" + field + "'");
        return DynType();
    }
  }

  int32_t CompileSelect(const Ast& ast, TypeRef& type) {
    std::string dotted;
    int32_t index = -1;
    if (QualifiedName(ast, dotted) && ResolveName(dotted, ast.kids[0]->offset, type, index)) {
      return index;
    }
    const size_t mark = impl_.nodes.size();
    TypeRef operand = DynType();
    const int32_t a = Compile(*ast.kids[0], operand);
    type = FieldType(ast, *operand, ast.name);
    Node n;
    n.op = Op::kSelect;
    n.offset = ast.offset;
    n.a = a;
    n.name = ast.name;
    return Fold(mark, Emit(std::move(n)), false);
  }

  int32_t CompileIndex(const Ast& ast, TypeRef& type) {
    const size_t mark = impl_.nodes.size();
    TypeRef ct = DynType();
    TypeRef it = DynType();
    const int32_t a = Compile(*ast.kids[0], ct);
    const int32_t b = Compile(*ast.kids[1], it);
    switch (ct->base) {
      case B::kDyn:
        break;
      case B::kList:
        if (Known(it) && it->base != B::kInt && it->base != B::kUint) {
          Error(ast.kids[1]->offset, "a list index must be an int, got " + TypeText(*it));
        }
        type = ElementOf(*ct);
        break;
      case B::kMap: {
        const Ast& key = *ast.kids[1];
        if (!ct->fields.empty() && key.kind == AstKind::kConst &&
            key.value.kind() == Kind::kString) {
          type = FieldType(ast, *ct, key.value.string_value());
        } else if (Known(it) && it->base != B::kString && it->base != B::kInt &&
                   it->base != B::kUint && it->base != B::kBool && it->base != B::kDouble) {
          Error(key.offset, "map keys are string, int, uint or bool, not " + TypeText(*it));
        } else {
          type = ElementOf(*ct);
        }
        break;
      }
      default:
        Error(ast.offset, Text(*ast.kids[0]) + " is " + TypeText(*ct) + " and cannot be indexed");
    }
    Node n;
    n.op = Op::kIndex;
    n.offset = ast.offset;
    n.a = a;
    n.b = b;
    return Fold(mark, Emit(std::move(n)), false);
  }

  int32_t CompileCall(const Ast& ast, TypeRef& type) {
    if (ast.receiver && IsMacro(ast.name)) return CompileMacro(ast, type);
    if (!ast.receiver && ast.name == "has") return CompileHas(ast, type);
    const Builtin* b = FindBuiltin(ast.name);
    const size_t mark = impl_.nodes.size();
    std::vector<int32_t> args;
    std::vector<TypeRef> types;
    for (const auto& kid : ast.kids) {
      TypeRef t = DynType();
      args.push_back(Compile(*kid, t));
      types.push_back(t);
    }
    if (b == nullptr) {
      Error(ast.offset, "unknown function '" + ast.name + "'" + Suggest(ast.name, BuiltinNames()));
      return EmitConst(ast.offset, Value());
    }
    if (ast.receiver && !b->receiver) {
      Error(ast.offset, ast.name + "() is not called on a value; write " + ast.name + "(x)");
      return EmitConst(ast.offset, Value());
    }
    if (!ast.receiver && !b->global) {
      Error(ast.offset, ast.name + "() is called on a value, like x." + ast.name + "(...)");
      return EmitConst(ast.offset, Value());
    }
    const int shown = static_cast<int>(args.size()) - (ast.receiver ? 1 : 0);
    std::vector<const Signature*> candidates;
    bool arity_ok = false;
    for (const Signature& s : b->signatures) {
      if (s.params.size() == args.size()) arity_ok = true;
      if (Matches(s, types)) candidates.push_back(&s);
    }
    if (!arity_ok) {
      std::string counts;
      for (const Signature& s : b->signatures) {
        const std::string c = std::to_string(s.params.size() - (ast.receiver ? 1 : 0));
        if (counts.find(c) == std::string::npos) counts += (counts.empty() ? "" : " or ") + c;
      }
      Error(ast.offset,
            ast.name + "() takes " + counts + " argument(s), not " + std::to_string(shown));
      return EmitConst(ast.offset, Value());
    }
    if (candidates.empty()) {
      std::string given = "(";
      for (size_t i = 0; i < types.size(); ++i) {
        given += (i > 0 ? ", " : "") + TypeText(*types[i]);
      }
      given += ")";
      std::string accepted;
      for (const Signature& s : b->signatures) {
        accepted += (accepted.empty() ? "" : ", ") + SignatureText(s, ast.receiver, ast.name);
      }
      Error(ast.offset, ast.name + "() cannot be applied to " + given + "; it accepts " + accepted);
      return EmitConst(ast.offset, Value());
    }
    type = Prim(candidates[0]->result);
    for (const Signature* s : candidates) {
      if (s->result != candidates[0]->result) type = DynType();
    }
    Node n;
    n.op = Op::kCall;
    n.offset = ast.offset;
    n.name = ast.name;
    n.fn = b->fn;
    n.pure = b->pure;
    n.args = args;
    PrepareConstants(ast, n);
    return Fold(mark, Emit(std::move(n)), true);
  }

  // Compiles a constant regex or time zone argument once.
  void PrepareConstants(const Ast& ast, Node& n) {
    const auto constant_string = [&](size_t i) -> const Value* {
      if (i >= n.args.size()) return nullptr;
      const Node& arg = impl_.nodes[n.args[i]];
      return arg.op == Op::kConst && arg.constant.kind() == Kind::kString ? &arg.constant : nullptr;
    };
    if (ast.name == "matches") {
      if (const Value* pattern = constant_string(1)) {
        RE2::Options options;
        options.set_log_errors(false);
        auto re = std::make_shared<const RE2>(pattern->string_value(), options);
        if (!re->ok()) {
          Error(ast.kids[1]->offset, "invalid regular expression '" +
                                         Snippet(pattern->string_value()) + "': " + re->error());
        } else {
          n.regex = std::move(re);
        }
      }
    } else if (ast.name.starts_with("get") && n.args.size() == 2) {
      if (const Value* zone = constant_string(1)) {
        std::string error;
        if (ParseZone(zone->string_value(), n.zone, error)) {
          n.has_zone = true;
        } else {
          Error(ast.kids[1]->offset, error);
        }
      }
    }
  }

  int32_t CompileHas(const Ast& ast, TypeRef& type) {
    type = Prim(B::kBool);
    if (ast.kids.size() != 1 || ast.kids[0]->kind != AstKind::kSelect) {
      Error(ast.offset, "has() needs a field selection, like has(event.properties.coupon)");
      return EmitConst(ast.offset, Value::Bool(false));
    }
    const Ast& select = *ast.kids[0];
    const size_t mark = impl_.nodes.size();
    TypeRef operand = DynType();
    const int32_t a = Compile(*select.kids[0], operand);
    FieldType(select, *operand, select.name);
    Node n;
    n.op = Op::kHas;
    n.offset = select.offset;
    n.a = a;
    n.name = select.name;
    return Fold(mark, Emit(std::move(n)), false);
  }

  int32_t CompileMacro(const Ast& ast, TypeRef& type) {
    const std::string& name = ast.name;
    const size_t want = name == "map" ? 0 : 3;  // map: 3 or 4 (with a filter)
    const bool shape_ok =
        (want == 0 ? (ast.kids.size() == 3 || ast.kids.size() == 4) : ast.kids.size() == want) &&
        ast.kids[1]->kind == AstKind::kIdent && !ast.kids[1]->root_scope;
    if (!shape_ok) {
      Error(ast.offset, name + "() takes a variable name and " +
                            (name == "map" ? "an expression, like list.map(x, x * 2)"
                                           : "a condition, like list." + name + "(x, x > 0)"));
      return EmitConst(ast.offset, Value());
    }
    TypeRef range_type = DynType();
    const int32_t range = Compile(*ast.kids[0], range_type);
    TypeRef element = DynType();
    if (range_type->base == B::kList) {
      element = ElementOf(*range_type);
    } else if (range_type->base != B::kMap && Known(range_type)) {
      Error(ast.offset, name + "() needs a list or a map, but " + Text(*ast.kids[0]) + " is " +
                            TypeText(*range_type));
    }
    locals_.push_back({ast.kids[1]->name, element});
    impl_.local_count = std::max<int32_t>(impl_.local_count, static_cast<int32_t>(locals_.size()));
    const int32_t slot = static_cast<int32_t>(locals_.size() - 1);
    const auto condition = [&](const Ast& cond) {
      TypeRef t = DynType();
      const int32_t index = Compile(cond, t);
      if (Known(t) && t->base != B::kBool) {
        Error(cond.offset, "the condition of " + name + "() must give a bool, but " + Text(cond) +
                               " is " + TypeText(*t));
      }
      return index;
    };
    Node n;
    n.offset = ast.offset;
    n.a = range;
    n.slot = slot;
    if (name == "map") {
      if (ast.kids.size() == 4) n.c = condition(*ast.kids[2]);
      TypeRef t = DynType();
      n.b = Compile(*ast.kids.back(), t);
      n.op = Op::kMapMacro;
      type = Own(Type::ListOf(*t));
    } else {
      n.b = condition(*ast.kids[2]);
      if (name == "all") {
        n.op = Op::kAll;
      } else if (name == "exists") {
        n.op = Op::kExists;
      } else if (name == "exists_one") {
        n.op = Op::kExistsOne;
      } else {
        n.op = Op::kFilter;
      }
      type = n.op == Op::kFilter ? Own(Type::ListOf(*element)) : Prim(B::kBool);
    }
    locals_.pop_back();
    return Emit(std::move(n));
  }

  int32_t CompileList(const Ast& ast, TypeRef& type) {
    const size_t mark = impl_.nodes.size();
    Node n;
    n.op = Op::kList;
    n.offset = ast.offset;
    TypeRef element = nullptr;
    for (const auto& kid : ast.kids) {
      TypeRef t = DynType();
      n.args.push_back(Compile(*kid, t));
      element = element == nullptr || SameType(*element, *t) ? t : DynType();
    }
    type = Own(Type::ListOf(element == nullptr ? Type::Dyn() : *element));
    return Fold(mark, Emit(std::move(n)), true);
  }

  int32_t CompileMap(const Ast& ast, TypeRef& type) {
    const size_t mark = impl_.nodes.size();
    Node n;
    n.op = Op::kMap;
    n.offset = ast.offset;
    TypeRef value_type = nullptr;
    for (size_t i = 0; i + 1 < ast.kids.size(); i += 2) {
      TypeRef kt = DynType();
      TypeRef vt = DynType();
      n.args.push_back(Compile(*ast.kids[i], kt));
      n.args.push_back(Compile(*ast.kids[i + 1], vt));
      if (Known(kt) && kt->base != B::kString && kt->base != B::kInt && kt->base != B::kUint &&
          kt->base != B::kBool) {
        Error(ast.kids[i]->offset,
              "map keys must be string, int, uint or bool, not " + TypeText(*kt));
      }
      value_type = value_type == nullptr || SameType(*value_type, *vt) ? vt : DynType();
    }
    type = Own(Type::MapOf(value_type == nullptr ? Type::Dyn() : *value_type));
    return Fold(mark, Emit(std::move(n)), true);
  }

  int32_t CompileUnary(const Ast& ast, TypeRef& type) {
    const size_t mark = impl_.nodes.size();
    TypeRef t = DynType();
    Node n;
    n.offset = ast.offset;
    n.a = Compile(*ast.kids[0], t);
    if (ast.kind == AstKind::kNot) {
      n.op = Op::kNot;
      type = Prim(B::kBool);
      if (Known(t) && t->base != B::kBool) {
        Error(ast.offset, "'!' needs a bool, but " + Text(*ast.kids[0]) + " is " + TypeText(*t));
      }
    } else {
      n.op = Op::kNeg;
      type = t;
      if (Known(t) && t->base != B::kInt && t->base != B::kDouble) {
        Error(ast.offset, "'-' cannot be applied to " + TypeText(*t));
        type = DynType();
      }
    }
    return Fold(mark, Emit(std::move(n)), false);
  }

  int32_t CompileBinary(const Ast& ast, TypeRef& type) {
    const size_t mark = impl_.nodes.size();
    TypeRef lt = DynType();
    TypeRef rt = DynType();
    Node n;
    n.op = OpOf(ast.op);
    n.offset = ast.offset;
    n.a = Compile(*ast.kids[0], lt);
    n.b = Compile(*ast.kids[1], rt);
    const std::string op(BinOpText(ast.op));
    const B l = lt->base;
    const B r = rt->base;
    const bool both_known = Known(lt) && Known(rt);
    type = Prim(B::kBool);
    switch (ast.op) {
      case BinOp::kEq:
      case BinOp::kNe:
        // Lenient: only kinds that can never be equal are an error.
        if (both_known && l != r && l != B::kNull && r != B::kNull &&
            !(IsNumeric(l) && IsNumeric(r))) {
          Error(ast.offset, "'" + op + "' compares " + TypeText(*lt) + " with " + TypeText(*rt) +
                                ", which are never equal");
        }
        break;
      case BinOp::kLt:
      case BinOp::kLe:
      case BinOp::kGt:
      case BinOp::kGe: {
        const auto orderable = [](B b) {
          return b == B::kDyn || IsNumeric(b) || b == B::kBool || b == B::kString ||
                 b == B::kBytes || b == B::kTimestamp || b == B::kDuration;
        };
        const bool ok = orderable(l) && orderable(r) &&
                        (!both_known || l == r || (IsNumeric(l) && IsNumeric(r)));
        if (!ok) {
          Error(ast.offset,
                "'" + op + "' cannot compare " + TypeText(*lt) + " with " + TypeText(*rt));
        }
        break;
      }
      case BinOp::kIn:
        if (Known(rt) && r != B::kList && r != B::kMap) {
          Error(ast.offset, "'in' needs a list or a map on its right, but " + Text(*ast.kids[1]) +
                                " is " + TypeText(*rt) +
                                (r == B::kString ? "; to search text use .contains()" : ""));
        }
        break;
      default: {
        const std::vector<TypeRef> args = {lt, rt};
        std::vector<const Signature*> candidates;
        for (const Signature& s : OperatorSignatures(ast.op)) {
          if (Matches(s, args)) candidates.push_back(&s);
        }
        if (candidates.empty()) {
          std::string message =
              "'" + op + "' cannot be applied to " + TypeText(*lt) + " and " + TypeText(*rt);
          if (IsNumeric(l) && IsNumeric(r)) message += kConvertHint;
          Error(ast.offset, message);
          type = DynType();
          break;
        }
        type = Prim(candidates[0]->result);
        for (const Signature* s : candidates) {
          if (s->result != candidates[0]->result) type = DynType();
        }
        if (type->base == B::kList && l == B::kList) type = lt;
      }
    }
    return Fold(mark, Emit(std::move(n)), false);
  }

  int32_t CompileLogical(const Ast& ast, TypeRef& type) {
    const size_t mark = impl_.nodes.size();
    const std::string op = ast.kind == AstKind::kAnd ? "&&" : "||";
    Node n;
    n.op = ast.kind == AstKind::kAnd ? Op::kAnd : Op::kOr;
    n.offset = ast.offset;
    int32_t* slots[] = {&n.a, &n.b};
    for (size_t i = 0; i < 2; ++i) {
      TypeRef t = DynType();
      *slots[i] = Compile(*ast.kids[i], t);
      if (Known(t) && t->base != B::kBool) {
        Error(ast.kids[i]->offset, "'" + op + "' needs bool operands, but " + Text(*ast.kids[i]) +
                                       " is " + TypeText(*t));
      }
    }
    type = Prim(B::kBool);
    return Fold(mark, Emit(std::move(n)), false);
  }

  int32_t CompileTernary(const Ast& ast, TypeRef& type) {
    const size_t mark = impl_.nodes.size();
    TypeRef ct = DynType();
    TypeRef yes = DynType();
    TypeRef no = DynType();
    Node n;
    n.op = Op::kTernary;
    n.offset = ast.offset;
    n.a = Compile(*ast.kids[0], ct);
    if (Known(ct) && ct->base != B::kBool) {
      Error(ast.kids[0]->offset, "the condition of '?:' must be a bool, but " + Text(*ast.kids[0]) +
                                     " is " + TypeText(*ct));
    }
    n.b = Compile(*ast.kids[1], yes);
    n.c = Compile(*ast.kids[2], no);
    type = SameType(*yes, *no) ? yes : DynType();
    return Fold(mark, Emit(std::move(n)), false);
  }

  std::string_view source_;
  const Declarations& decls_;
  CompiledProgram& impl_;
  std::vector<int32_t> dense_;  // declaration slot -> dense variable index, or -1
  std::vector<Local> locals_;
  std::deque<Type> types_;
  std::vector<std::pair<int32_t, std::string>> errors_;
};

}  // namespace
}  // namespace internal

std::string internal::CompiledProgram::Where(int32_t offset) const {
  int line = at.line;
  int column = at.column;
  const size_t end = std::min<size_t>(static_cast<size_t>(std::max(offset, 0)), source.size());
  for (size_t i = 0; i < end; ++i) {
    const char c = source[i];
    if (c == '\n') {
      ++line;
      column = 1;
    } else if ((static_cast<unsigned char>(c) & 0xc0) != 0x80) {
      ++column;
    }
  }
  return (at.file.empty() ? std::string("<expression>") : at.file) + ":" + std::to_string(line) +
         ":" + std::to_string(column);
}

Result<Program> Compile(std::string_view source, const Declarations& declarations,
                        const SourceLocation& at, const Limits& limits) {
  try {
    auto impl = std::make_shared<Program::Impl>();
    impl->source.assign(source);
    impl->at = at;
    impl->limits = limits;
    if (source.size() > limits.max_source_bytes) {
      return InvalidArgument(impl->Where(0) + ": the expression is " +
                             std::to_string(source.size()) + " bytes long; the limit is " +
                             std::to_string(limits.max_source_bytes));
    }
    const int max_depth = std::clamp(limits.max_depth, 1, internal::kHardMaxDepth);
    internal::ParseError parse_error;
    const std::unique_ptr<internal::Ast> ast = internal::Parse(source, max_depth, parse_error);
    if (ast == nullptr) {
      return InvalidArgument(impl->Where(parse_error.offset) + ": " + parse_error.message);
    }
    internal::Compiler compiler(impl->source, declarations, *impl);
    const Type* type = nullptr;
    impl->root = compiler.Compile(*ast, type);
    if (compiler.failed()) {
      std::string message;
      for (const auto& [offset, text] : compiler.errors()) {
        if (!message.empty()) message += '\n';
        message += impl->Where(offset) + ": " + text;
      }
      return InvalidArgument(std::move(message));
    }
    impl->result_type = *type;
    impl->used_slots = compiler.UsedSlots();
    if (internal::ComparisonsOnly(*impl, impl->root)) internal::Flatten(*impl);
    Program program;
    program.impl_ = std::move(impl);
    return program;
  } catch (const std::exception& e) {  // allocation failure
    return Internal(std::string("expression: compile failed: ") + e.what());
  }
}

Result<Program> CompileCondition(std::string_view source, const Declarations& declarations,
                                 const SourceLocation& at, const Limits& limits) {
  Result<Program> program = Compile(source, declarations, at, limits);
  if (!program.ok()) return program;
  const Type& type = program->result_type();
  if (type.base != Type::Base::kDyn && type.base != Type::Base::kBool) {
    const std::string prefix = (at.file.empty() ? std::string("<expression>") : at.file) + ":" +
                               std::to_string(at.line) + ":" + std::to_string(at.column);
    return InvalidArgument(prefix + ": a condition must give true or false, but this gives " +
                           internal::TypeText(type));
  }
  return program;
}

}  // namespace cairn::expr
