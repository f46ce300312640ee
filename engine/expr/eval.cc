// The evaluator: walks the compiled node tree with CEL's semantics (errors
// are values; && || and the all/exists macros absorb them commutatively).
#include <array>
#include <cmath>
#include <limits>

#include "expr/program_impl.h"

namespace cairn::expr::internal {
namespace {

std::string_view ShortKind(Kind k) {
  switch (k) {
    case Kind::kNull:
      return "null";
    case Kind::kTimestamp:
      return "timestamp";
    case Kind::kDuration:
      return "duration";
    default:
      return KindName(k);
  }
}

std::string_view OpText(Op op) {
  switch (op) {
    case Op::kAdd:
      return "+";
    case Op::kSub:
      return "-";
    case Op::kMul:
      return "*";
    case Op::kDiv:
      return "/";
    case Op::kMod:
      return "%";
    case Op::kEq:
      return "==";
    case Op::kNe:
      return "!=";
    case Op::kLt:
      return "<";
    case Op::kLe:
      return "<=";
    case Op::kGt:
      return ">";
    case Op::kGe:
      return ">=";
    case Op::kIn:
      return "in";
    case Op::kAnd:
      return "&&";
    case Op::kOr:
      return "||";
    default:
      return "?";
  }
}

bool IsNumber(Kind k) { return k == Kind::kInt || k == Kind::kUint || k == Kind::kDouble; }

const Value& BoolValue(bool b) {
  static const Value kTrue = Value::Bool(true);
  static const Value kFalse = Value::Bool(false);
  return b ? kTrue : kFalse;
}

Ref BoolRef(bool b) { return Ref::Borrow(BoolValue(b)); }

bool Overflow(std::string& error) {
  error = "integer overflow";
  return false;
}

bool TimestampResult(Int128 nanos, Value& out, std::string& error) {
  if (TimestampFromNanos(nanos, out)) return true;
  error = "timestamp out of range (years 1 to 9999)";
  return false;
}

bool DurationResult(Int128 nanos, Value& out, std::string& error) {
  if (DurationFromNanos(nanos, out)) return true;
  error = "duration out of range (about +-292 years)";
  return false;
}

// A small array of Refs for call arguments, on the stack when few.
class RefArray {
 public:
  explicit RefArray(size_t n) : n_(n) {
    if (n > inline_.size()) heap_.resize(n);
  }
  Ref& operator[](size_t i) { return n_ > inline_.size() ? heap_[i] : inline_[i]; }

 private:
  size_t n_;
  std::array<Ref, 4> inline_;
  std::vector<Ref> heap_;
};

}  // namespace

bool Arithmetic(Op op, const Value& a, const Value& b, Value& out, std::string& error) {
  const Kind ka = a.kind();
  const Kind kb = b.kind();
  if (ka == kb) {
    switch (ka) {
      case Kind::kInt: {
        const int64_t x = a.int_value();
        const int64_t y = b.int_value();
        int64_t r = 0;
        switch (op) {
          case Op::kAdd:
            if (__builtin_add_overflow(x, y, &r)) return Overflow(error);
            break;
          case Op::kSub:
            if (__builtin_sub_overflow(x, y, &r)) return Overflow(error);
            break;
          case Op::kMul:
            if (__builtin_mul_overflow(x, y, &r)) return Overflow(error);
            break;
          case Op::kDiv:
            if (y == 0) {
              error = "division by zero";
              return false;
            }
            if (x == std::numeric_limits<int64_t>::min() && y == -1) return Overflow(error);
            r = x / y;
            break;
          case Op::kMod:
            if (y == 0) {
              error = "modulus by zero";
              return false;
            }
            if (x == std::numeric_limits<int64_t>::min() && y == -1) return Overflow(error);
            r = x % y;
            break;
          default:
            break;
        }
        out = Value::Int(r);
        return true;
      }
      case Kind::kUint: {
        const uint64_t x = a.uint_value();
        const uint64_t y = b.uint_value();
        uint64_t r = 0;
        switch (op) {
          case Op::kAdd:
            if (__builtin_add_overflow(x, y, &r)) return Overflow(error);
            break;
          case Op::kSub:
            if (__builtin_sub_overflow(x, y, &r)) return Overflow(error);
            break;
          case Op::kMul:
            if (__builtin_mul_overflow(x, y, &r)) return Overflow(error);
            break;
          case Op::kDiv:
          case Op::kMod:
            if (y == 0) {
              error = op == Op::kDiv ? "division by zero" : "modulus by zero";
              return false;
            }
            r = op == Op::kDiv ? x / y : x % y;
            break;
          default:
            break;
        }
        out = Value::Uint(r);
        return true;
      }
      case Kind::kDouble: {
        const double x = a.double_value();
        const double y = b.double_value();
        switch (op) {
          case Op::kAdd:
            out = Value::Double(x + y);
            return true;
          case Op::kSub:
            out = Value::Double(x - y);
            return true;
          case Op::kMul:
            out = Value::Double(x * y);
            return true;
          case Op::kDiv:
            out = Value::Double(x / y);
            return true;
          default:
            break;
        }
        break;
      }
      case Kind::kString:
      case Kind::kBytes:
        if (op == Op::kAdd) {
          std::string s;
          s.reserve(a.string_value().size() + b.string_value().size());
          s += a.string_value();
          s += b.string_value();
          out = ka == Kind::kString ? Value::String(std::move(s)) : Value::Bytes(std::move(s));
          return true;
        }
        break;
      case Kind::kList:
        if (op == Op::kAdd) {
          if (b.list().empty()) {
            out = a;
            return true;
          }
          if (a.list().empty()) {
            out = b;
            return true;
          }
          ValueList items;
          items.reserve(a.list().size() + b.list().size());
          items.insert(items.end(), a.list().begin(), a.list().end());
          items.insert(items.end(), b.list().begin(), b.list().end());
          out = Value::List(std::move(items));
          return true;
        }
        break;
      case Kind::kDuration:
        if (op == Op::kAdd || op == Op::kSub) {
          const Int128 x = a.duration_nanos();
          const Int128 y = b.duration_nanos();
          return DurationResult(op == Op::kAdd ? x + y : x - y, out, error);
        }
        break;
      case Kind::kTimestamp:
        if (op == Op::kSub)
          return DurationResult(TimestampNanos(a) - TimestampNanos(b), out, error);
        break;
      default:
        break;
    }
  } else if (ka == Kind::kTimestamp && kb == Kind::kDuration) {
    if (op == Op::kAdd) return TimestampResult(TimestampNanos(a) + b.duration_nanos(), out, error);
    if (op == Op::kSub) return TimestampResult(TimestampNanos(a) - b.duration_nanos(), out, error);
  } else if (ka == Kind::kDuration && kb == Kind::kTimestamp && op == Op::kAdd) {
    return TimestampResult(TimestampNanos(b) + a.duration_nanos(), out, error);
  }
  error = "'" + std::string(OpText(op)) + "' cannot be applied to " + std::string(ShortKind(ka)) +
          " and " + std::string(ShortKind(kb));
  if (IsNumber(ka) && IsNumber(kb)) error += kConvertHint;
  return false;
}

bool Negate(const Value& a, Value& out, std::string& error) {
  if (a.kind() == Kind::kInt) {
    if (a.int_value() == std::numeric_limits<int64_t>::min()) return Overflow(error);
    out = Value::Int(-a.int_value());
    return true;
  }
  if (a.kind() == Kind::kDouble) {
    out = Value::Double(-a.double_value());
    return true;
  }
  error = "'-' cannot be applied to " + std::string(ShortKind(a.kind()));
  return false;
}

const Value& EvalState::Now() {
  if (!now_resolved_) {
    now_ = Value::TimestampFromMs(activation_.Now());
    now_resolved_ = true;
  }
  return now_;
}

Ref EvalState::Eval(int32_t index) {
  const Node& n = program_.nodes[index];
  if (++steps_ > program_.limits.max_steps) return StepLimit(n);
  switch (n.op) {
    case Op::kConst:
      return Ref::Borrow(n.constant);
    case Op::kVar:
      if (!resolved_[n.slot]) {
        vars_[n.slot] = activation_.Resolve(n.var_slot);
        resolved_[n.slot] = true;
      }
      return Ref::Borrow(vars_[n.slot]);
    case Op::kLocal:
      return Ref::Borrow(*locals_[n.slot]);
    case Op::kNow:
      return Ref::Borrow(Now());
    case Op::kSelect:
    case Op::kHas:
      return EvalSelect(n);
    case Op::kIndex:
      return EvalIndex(n);
    case Op::kList:
      return EvalList(n);
    case Op::kMap:
      return EvalMap(n);
    case Op::kNot: {
      Ref r = Eval(n.a);
      if (r.is_error()) return r;
      if (r.get().kind() != Kind::kBool) {
        return Fail(n, "'!' needs a bool, got " + std::string(ShortKind(r.get().kind())));
      }
      return BoolRef(!r.get().bool_value());
    }
    case Op::kNeg: {
      Ref r = Eval(n.a);
      if (r.is_error()) return r;
      Value out;
      std::string error;
      if (!Negate(r.get(), out, error)) return Fail(n, std::move(error));
      return Ref::Own(std::move(out));
    }
    case Op::kAnd:
      return EvalLogical(n, true);
    case Op::kOr:
      return EvalLogical(n, false);
    case Op::kTernary: {
      Ref c = Eval(n.a);
      if (c.is_error()) return c;
      if (c.get().kind() != Kind::kBool) {
        return Fail(n, "the condition of '?:' must be a bool, got " +
                           std::string(ShortKind(c.get().kind())));
      }
      return Eval(c.get().bool_value() ? n.b : n.c);
    }
    case Op::kEq:
    case Op::kNe: {
      Ref l = Eval(n.a);
      if (l.is_error()) return l;
      Ref r = Eval(n.b);
      if (r.is_error()) return r;
      return BoolRef(l.get().Equals(r.get()) == (n.op == Op::kEq));
    }
    case Op::kLt:
    case Op::kLe:
    case Op::kGt:
    case Op::kGe: {
      Ref l = Eval(n.a);
      if (l.is_error()) return l;
      Ref r = Eval(n.b);
      if (r.is_error()) return r;
      const Order o = Compare(l.get(), r.get());
      switch (o) {
        case Order::kInvalid:
          return Fail(n, "'" + std::string(OpText(n.op)) + "' cannot compare " +
                             std::string(ShortKind(l.get().kind())) + " with " +
                             std::string(ShortKind(r.get().kind())));
        case Order::kUnordered:
          return BoolRef(false);
        case Order::kLess:
          return BoolRef(n.op == Op::kLt || n.op == Op::kLe);
        case Order::kEqual:
          return BoolRef(n.op == Op::kLe || n.op == Op::kGe);
        case Order::kGreater:
          return BoolRef(n.op == Op::kGt || n.op == Op::kGe);
      }
      return BoolRef(false);
    }
    case Op::kIn:
      return EvalIn(n);
    case Op::kAdd:
    case Op::kSub:
    case Op::kMul:
    case Op::kDiv:
    case Op::kMod:
      return EvalArithmetic(n);
    case Op::kCall:
      return EvalCall(n);
    case Op::kAll:
    case Op::kExists:
    case Op::kExistsOne:
    case Op::kMapMacro:
    case Op::kFilter:
      return EvalMacro(n);
  }
  return Fail(n, "internal error: unknown node");
}

// CEL's commutative && and ||: a deciding operand (false for &&, true for
// ||) wins over an error or a non-bool on the other side.
Ref EvalState::EvalLogical(const Node& n, bool is_and) {
  const bool decider = !is_and;
  Ref l = Eval(n.a);
  const bool l_bool = !l.is_error() && l.get().kind() == Kind::kBool;
  if (l_bool && l.get().bool_value() == decider) return BoolRef(decider);
  SavedError left_error;
  if (l.is_error()) left_error = SaveError();
  Ref r = Eval(n.b);
  const bool r_bool = !r.is_error() && r.get().kind() == Kind::kBool;
  if (r_bool && r.get().bool_value() == decider) return BoolRef(decider);
  if (l_bool && r_bool) return BoolRef(!decider);
  // No decider: the left problem wins, then the right one.
  if (l.is_error()) {
    RestoreError(std::move(left_error));
    return Ref::Error();
  }
  if (!l_bool) {
    return Fail(n, "'" + std::string(OpText(n.op)) + "' needs bool operands, got " +
                       std::string(ShortKind(l.get().kind())));
  }
  if (r.is_error()) return r;
  return Fail(n, "'" + std::string(OpText(n.op)) + "' needs bool operands, got " +
                     std::string(ShortKind(r.get().kind())));
}

Ref EvalState::EvalSelect(const Node& n) {
  if (const Node& base = program_.nodes[n.a]; base.op == Op::kVar && !resolved_[base.slot]) {
    Value out;
    bool found = false;
    if (activation_.ResolveField(base.var_slot, n.name, &out, &found)) {
      if (n.op == Op::kHas) return BoolRef(found);
      if (!found) return Fail(n, "no such key: '" + n.name + "'");
      return Ref::Own(std::move(out));
    }
  }
  Ref m = Eval(n.a);
  if (m.is_error()) return m;
  const Value& v = m.get();
  if (v.kind() != Kind::kMap) {
    return Fail(n, "cannot " + std::string(n.op == Op::kHas ? "test" : "select") + " field '" +
                       n.name + "' on " + std::string(ShortKind(v.kind())) +
                       (v.kind() == Kind::kNull ? "" : " value"));
  }
  const Value* f = v.Find(std::string_view(n.name));
  if (n.op == Op::kHas) return BoolRef(f != nullptr);
  if (f == nullptr) return Fail(n, "no such key: '" + n.name + "'");
  return m.Part(*f);
}

Ref EvalState::EvalIndex(const Node& n) {
  Ref c = Eval(n.a);
  if (c.is_error()) return c;
  Ref i = Eval(n.b);
  if (i.is_error()) return i;
  const Value& container = c.get();
  const Value& index = i.get();
  if (container.kind() == Kind::kList) {
    const ValueList& list = container.list();
    int64_t at = 0;
    switch (index.kind()) {
      case Kind::kInt:
        at = index.int_value();
        break;
      case Kind::kUint:
        at = index.uint_value() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())
                 ? -1
                 : static_cast<int64_t>(index.uint_value());
        break;
      case Kind::kDouble: {
        const double d = index.double_value();
        if (!(d == std::trunc(d)) || d < -0x1p63 || d >= 0x1p63) {
          return Fail(n, "invalid list index " + FormatDouble(d) + " (not a whole number)");
        }
        at = static_cast<int64_t>(d);
        break;
      }
      default:
        return Fail(n, "a list index must be an int, got " + std::string(ShortKind(index.kind())));
    }
    if (at < 0 || static_cast<uint64_t>(at) >= list.size()) {
      return Fail(n, "index " + index.DebugString() + " out of range (the list has " +
                         std::to_string(list.size()) + " items)");
    }
    return c.Part(list[static_cast<size_t>(at)]);
  }
  if (container.kind() == Kind::kMap) {
    if (!IsKeyKind(index.kind()) && index.kind() != Kind::kDouble) {
      return Fail(n, "unsupported map key type: " + std::string(ShortKind(index.kind())));
    }
    const Value* f = container.Find(index);
    if (f == nullptr) return Fail(n, "no such key: " + index.DebugString());
    return c.Part(*f);
  }
  return Fail(n, "cannot index into " + std::string(ShortKind(container.kind())) +
                     (container.kind() == Kind::kNull ? "" : " value"));
}

Ref EvalState::EvalIn(const Node& n) {
  Ref e = Eval(n.a);
  if (e.is_error()) return e;
  Ref c = Eval(n.b);
  if (c.is_error()) return c;
  const Value& element = e.get();
  const Value& container = c.get();
  if (container.kind() == Kind::kList) {
    for (const Value& item : container.list()) {
      if (item.Equals(element)) return BoolRef(true);
    }
    return BoolRef(false);
  }
  if (container.kind() == Kind::kMap) return BoolRef(container.Find(element) != nullptr);
  return Fail(n, "'in' needs a list or a map on its right, got " +
                     std::string(ShortKind(container.kind())));
}

Ref EvalState::EvalArithmetic(const Node& n) {
  Ref l = Eval(n.a);
  if (l.is_error()) return l;
  Ref r = Eval(n.b);
  if (r.is_error()) return r;
  Value out;
  std::string error;
  if (!Arithmetic(n.op, l.get(), r.get(), out, error)) return Fail(n, std::move(error));
  return Ref::Own(std::move(out));
}

Ref EvalState::EvalList(const Node& n) {
  ValueList items;
  items.reserve(n.args.size());
  for (const int32_t arg : n.args) {
    Ref r = Eval(arg);
    if (r.is_error()) return r;
    items.push_back(std::move(r).take());
  }
  return Ref::Own(Value::List(std::move(items)));
}

Ref EvalState::EvalMap(const Node& n) {
  ValueMap entries;
  entries.reserve(n.args.size() / 2);
  for (size_t i = 0; i + 1 < n.args.size(); i += 2) {
    Ref k = Eval(n.args[i]);
    if (k.is_error()) return k;
    if (!IsKeyKind(k.get().kind())) {
      return Fail(program_.nodes[n.args[i]], "map keys must be string, int, uint or bool, got " +
                                                 std::string(ShortKind(k.get().kind())));
    }
    for (const auto& entry : entries) {
      if (entry.first.Equals(k.get())) {
        return Fail(program_.nodes[n.args[i]],
                    "repeated key " + k.get().DebugString() + " in map literal");
      }
    }
    Ref v = Eval(n.args[i + 1]);
    if (v.is_error()) return v;
    entries.emplace_back(std::move(k).take(), std::move(v).take());
  }
  return Ref::Own(Value::Map(std::move(entries)));
}

Ref EvalState::EvalCall(const Node& n) {
  const size_t count = n.args.size();
  RefArray refs(count);
  std::array<const Value*, 4> inline_ptrs{};
  std::vector<const Value*> heap_ptrs;
  const Value** ptrs = inline_ptrs.data();
  if (count > inline_ptrs.size()) {
    heap_ptrs.resize(count);
    ptrs = heap_ptrs.data();
  }
  for (size_t i = 0; i < count; ++i) {
    refs[i] = Eval(n.args[i]);
    if (refs[i].is_error()) return std::move(refs[i]);
    ptrs[i] = &refs[i].get();
  }
  Value out;
  std::string error;
  const CallArgs call{n, *this, ptrs, static_cast<int>(count)};
  if (!n.fn(call, out, error)) return Fail(n, std::move(error));
  return Ref::Own(std::move(out));
}

Ref EvalState::EvalMacro(const Node& n) {
  Ref range = Eval(n.a);
  if (range.is_error()) return range;
  const Value& rv = range.get();
  if (rv.kind() != Kind::kList && rv.kind() != Kind::kMap) {
    return Fail(n, "cannot iterate over " + std::string(ShortKind(rv.kind())) +
                       "; all, exists, exists_one, map and filter need a list or a map");
  }
  const bool is_list = rv.kind() == Kind::kList;
  const size_t size = is_list ? rv.list().size() : rv.map().size();
  const auto element = [&](size_t i) -> const Value& {
    return is_list ? rv.list()[i] : rv.map()[i].first;
  };
  const auto not_bool = [&](const Ref& r) {
    return Fail(n, "the condition must give a bool, got " + std::string(ShortKind(r.get().kind())));
  };
  const int64_t max_steps = program_.limits.max_steps;
  switch (n.op) {
    case Op::kAll:
    case Op::kExists: {
      const bool decider = n.op == Op::kExists;  // exists stops at true, all at false
      bool failed = false;
      SavedError first_error;
      for (size_t i = 0; i < size; ++i) {
        if (++steps_ > max_steps) return StepLimit(n);
        locals_[n.slot] = &element(i);
        Ref p = Eval(n.b);
        if (!p.is_error() && p.get().kind() == Kind::kBool) {
          if (p.get().bool_value() == decider) return BoolRef(decider);
          continue;
        }
        if (!failed) {
          if (!p.is_error()) not_bool(p);
          first_error = SaveError();
          failed = true;
        }
      }
      if (failed) {
        RestoreError(std::move(first_error));
        return Ref::Error();
      }
      return BoolRef(!decider);
    }
    case Op::kExistsOne: {
      size_t count = 0;
      for (size_t i = 0; i < size; ++i) {
        if (++steps_ > max_steps) return StepLimit(n);
        locals_[n.slot] = &element(i);
        Ref p = Eval(n.b);
        if (p.is_error()) return p;
        if (p.get().kind() != Kind::kBool) return not_bool(p);
        if (p.get().bool_value()) ++count;
      }
      return BoolRef(count == 1);
    }
    case Op::kMapMacro:
    case Op::kFilter: {
      ValueList out;
      for (size_t i = 0; i < size; ++i) {
        if (++steps_ > max_steps) return StepLimit(n);
        const Value& e = element(i);
        locals_[n.slot] = &e;
        const int32_t filter = n.op == Op::kFilter ? n.b : n.c;
        if (filter >= 0) {
          Ref p = Eval(filter);
          if (p.is_error()) return p;
          if (p.get().kind() != Kind::kBool) return not_bool(p);
          if (!p.get().bool_value()) continue;
        }
        if (n.op == Op::kFilter) {
          out.push_back(e);
        } else {
          Ref t = Eval(n.b);
          if (t.is_error()) return t;
          out.push_back(std::move(t).take());
        }
      }
      return Ref::Own(Value::List(std::move(out)));
    }
    default:
      return Fail(n, "internal error: not a macro");
  }
}

}  // namespace cairn::expr::internal
