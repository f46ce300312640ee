// expr::Program: evaluation entry points over the compiled form.
#include <algorithm>
#include <memory>

#include "expr/program_impl.h"

namespace cairn::expr {
namespace {

// Per-Eval scratch of `n` value-initialised T: on the stack when n <= N.
template <typename T, size_t N>
class Scratch {
 public:
  explicit Scratch(size_t n) : n_(n) {
    if (n > N) {
      heap_ = std::make_unique<T[]>(n);
      data_ = heap_.get();
    } else {
      data_ = reinterpret_cast<T*>(storage_);
      std::uninitialized_value_construct_n(data_, n);
    }
  }
  ~Scratch() {
    if (heap_ == nullptr) std::destroy_n(data_, n_);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  T* data() { return data_; }

 private:
  alignas(T) unsigned char storage_[N * sizeof(T)];
  size_t n_;
  std::unique_ptr<T[]> heap_;
  T* data_ = nullptr;
};

}  // namespace

Program::Program() = default;
Program::~Program() = default;
Program::Program(Program&&) noexcept = default;
Program& Program::operator=(Program&&) noexcept = default;
Program::Program(const Program&) = default;
Program& Program::operator=(const Program&) = default;

Result<Value> Program::Eval(const Activation& activation) const {
  if (impl_ == nullptr) return FailedPrecondition("expression: the program is empty");
  const Impl& p = *impl_;
  try {
    Scratch<Value, 8> vars(static_cast<size_t>(p.var_count));
    Scratch<bool, 8> resolved(static_cast<size_t>(p.var_count));
    Scratch<const Value*, 4> locals(static_cast<size_t>(p.local_count));
    internal::EvalState state(p, activation, vars.data(), resolved.data(), locals.data());
    internal::Ref result = state.Eval(p.root);
    if (result.is_error()) {
      return InvalidArgument(p.Where(state.error_offset()) + ": " + state.error());
    }
    return std::move(result).take();
  } catch (const std::exception& e) {  // allocation failure, or thrown by the Activation
    return Internal(p.Where(0) + ": evaluation failed: " + e.what());
  }
}

Result<bool> Program::EvalBool(const Activation& activation) const {
  Result<Value> v = Eval(activation);
  if (!v.ok()) return v.status();
  if (v->kind() != Kind::kBool) {
    return InvalidArgument(impl_->Where(0) + ": the condition gave " +
                           internal::Snippet(v->DebugString()) + ", not true or false");
  }
  return v->bool_value();
}

namespace internal {

namespace {

// The variable `n` selects a field of by a constant name (`v.f`,
// has(v.f)); null for any other node.
const Node* SelectedVar(const CompiledProgram& p, const Node& n) {
  if ((n.op != Op::kSelect && n.op != Op::kHas) || n.a < 0 ||
      static_cast<size_t>(n.a) >= p.nodes.size()) {
    return nullptr;
  }
  const Node& var = p.nodes[static_cast<size_t>(n.a)];
  return var.op == Op::kVar ? &var : nullptr;
}

bool IsComparison(Op op) {
  return op == Op::kEq || op == Op::kNe || op == Op::kLt || op == Op::kLe || op == Op::kGt ||
         op == Op::kGe;
}

// A field select on a variable (`v.f`, not has()).
bool IsVarField(const CompiledProgram& p, int32_t i) {
  if (i < 0 || static_cast<size_t>(i) >= p.nodes.size()) return false;
  const Node& n = p.nodes[static_cast<size_t>(i)];
  return n.op == Op::kSelect && SelectedVar(p, n) != nullptr;
}

bool IsConst(const CompiledProgram& p, int32_t i) {
  return i >= 0 && static_cast<size_t>(i) < p.nodes.size() &&
         p.nodes[static_cast<size_t>(i)].op == Op::kConst;
}

// EvalState's answer for the entry `i` of p.flat, when it is not an error.
// The profile stage's EvalNumericTest (profile/values.cc) walks the same
// way over its own copy: keep the two in step.
std::optional<bool> EvalFlat(const CompiledProgram& p, int32_t i, const Activation& a) {
  const CompiledProgram::Flat& n = p.flat[static_cast<size_t>(i)];
  if (n.op == Op::kAnd || n.op == Op::kOr) {
    const bool decider = n.op == Op::kOr;  // as EvalLogical
    const auto l = EvalFlat(p, n.a, a);
    if (!l) return std::nullopt;
    if (*l == decider) return decider;
    return EvalFlat(p, n.b, a);
  }
  // The field's value as EvalSelect would get it from ResolveField.
  Value v;
  bool found = false;
  if (!a.ResolveField(n.var_slot, n.field, &v, &found) || !found) return std::nullopt;
  const Value& l = n.field_left ? v : n.constant;
  const Value& r = n.field_left ? n.constant : v;
  if (n.op == Op::kEq || n.op == Op::kNe) return l.Equals(r) == (n.op == Op::kEq);
  switch (Compare(l, r)) {
    case Order::kInvalid:
      return std::nullopt;
    case Order::kUnordered:
      return false;
    case Order::kLess:
      return n.op == Op::kLt || n.op == Op::kLe;
    case Order::kEqual:
      return n.op == Op::kLe || n.op == Op::kGe;
    case Order::kGreater:
      return n.op == Op::kGt || n.op == Op::kGe;
  }
  return std::nullopt;
}

// Appends the tree at node `i` (ComparisonsOnly) to p.flat; returns its entry.
int32_t FlattenTree(CompiledProgram& p, int32_t i) {
  const Node& n = p.nodes[static_cast<size_t>(i)];
  const auto at = static_cast<int32_t>(p.flat.size());
  p.flat.emplace_back();
  p.flat.back().op = n.op;
  if (n.op == Op::kAnd || n.op == Op::kOr) {
    const int32_t a = FlattenTree(p, n.a);
    const int32_t b = FlattenTree(p, n.b);
    p.flat[static_cast<size_t>(at)].a = a;
    p.flat[static_cast<size_t>(at)].b = b;
    return at;
  }
  // ComparisonsOnly checked the shape: one side is the field, the other a constant.
  const bool field_left = p.nodes[static_cast<size_t>(n.a)].op != Op::kConst;
  const Node& select = p.nodes[static_cast<size_t>(field_left ? n.a : n.b)];
  CompiledProgram::Flat& f = p.flat[static_cast<size_t>(at)];
  f.field_left = field_left;
  f.var_slot = p.nodes[static_cast<size_t>(select.a)].var_slot;
  f.field = select.name;
  f.constant = p.nodes[static_cast<size_t>(field_left ? n.b : n.a)].constant;
  return at;
}

}  // namespace

bool ComparisonsOnly(const CompiledProgram& p, int32_t index) {
  if (index < 0 || static_cast<size_t>(index) >= p.nodes.size()) return false;
  const Node& n = p.nodes[static_cast<size_t>(index)];
  if (n.op == Op::kAnd || n.op == Op::kOr) {
    return ComparisonsOnly(p, n.a) && ComparisonsOnly(p, n.b);
  }
  if (!IsComparison(n.op)) return false;
  return (IsVarField(p, n.a) && IsConst(p, n.b)) || (IsConst(p, n.a) && IsVarField(p, n.b));
}

void Flatten(CompiledProgram& p) {
  p.flat.clear();
  if (p.root >= 0) FlattenTree(p, p.root);
}

}  // namespace internal

std::optional<bool> Program::EvalComparisons(const Activation& activation) const {
  if (impl_ == nullptr || impl_->flat.empty()) return std::nullopt;
  try {
    return internal::EvalFlat(*impl_, 0, activation);
  } catch (const std::exception&) {  // thrown by the Activation: EvalBool reports it
    return std::nullopt;
  }
}

std::vector<Program::Comparison> Program::Comparisons() const {
  using C = Comparison::Op;
  using internal::Op;
  // The comparison operators are in the same order in both enums.
  static_assert(int(Op::kNe) - int(Op::kEq) == int(C::kNe) - int(C::kEq) &&
                int(Op::kLt) - int(Op::kEq) == int(C::kLt) - int(C::kEq) &&
                int(Op::kLe) - int(Op::kEq) == int(C::kLe) - int(C::kEq) &&
                int(Op::kGt) - int(Op::kEq) == int(C::kGt) - int(C::kEq) &&
                int(Op::kGe) - int(Op::kEq) == int(C::kGe) - int(C::kEq));
  std::vector<Comparison> out;
  if (impl_ == nullptr) return out;
  out.reserve(impl_->flat.size());
  for (const auto& f : impl_->flat) {
    Comparison c;
    if (f.op == Op::kAnd || f.op == Op::kOr) {
      c.op = f.op == Op::kAnd ? C::kAnd : C::kOr;
    } else if (f.op >= Op::kEq && f.op <= Op::kGe) {
      c.op = static_cast<C>(int(C::kEq) + (int(f.op) - int(Op::kEq)));
    } else {
      return {};  // Flatten makes no other entry
    }
    c.a = f.a;
    c.b = f.b;
    c.slot = f.var_slot;
    c.field = f.field;
    c.constant = &f.constant;
    c.field_left = f.field_left;
    out.push_back(c);
  }
  return out;
}

const std::string& Program::source() const {
  static const std::string kEmpty;
  return impl_ != nullptr ? impl_->source : kEmpty;
}

const Type& Program::result_type() const {
  static const Type kDyn;
  return impl_ != nullptr ? impl_->result_type : kDyn;
}

bool Program::SelectedFields(int slot, std::vector<std::string>* fields) const {
  fields->clear();
  if (impl_ == nullptr) return true;
  const auto& nodes = impl_->nodes;
  auto is_var = [&](int32_t i) {
    return i >= 0 && static_cast<size_t>(i) < nodes.size() &&
           nodes[static_cast<size_t>(i)].op == internal::Op::kVar &&
           nodes[static_cast<size_t>(i)].var_slot == slot;
  };
  if (is_var(impl_->root)) return false;
  for (const auto& n : nodes) {
    const bool select = n.op == internal::Op::kSelect || n.op == internal::Op::kHas;
    const bool index = n.op == internal::Op::kIndex;
    if (is_var(n.a)) {
      if (select) {
        fields->push_back(n.name);
      } else if (index && n.b >= 0 && nodes[static_cast<size_t>(n.b)].op == internal::Op::kConst &&
                 nodes[static_cast<size_t>(n.b)].constant.kind() == Kind::kString) {
        fields->push_back(nodes[static_cast<size_t>(n.b)].constant.string_value());
      } else {
        return false;
      }
    }
    if ((!select && !index && is_var(n.a)) || is_var(n.b) || is_var(n.c)) return false;
    for (int32_t arg : n.args) {
      if (is_var(arg)) return false;
    }
  }
  std::sort(fields->begin(), fields->end());
  fields->erase(std::unique(fields->begin(), fields->end()), fields->end());
  return true;
}

void Program::ForEachField(int slot, const std::function<void(const std::string&)>& fn) const {
  if (impl_ == nullptr) return;
  for (const auto& n : impl_->nodes) {
    const internal::Node* var = internal::SelectedVar(*impl_, n);
    if (var != nullptr && var->var_slot == slot) fn(n.name);
  }
}

const std::vector<int>& Program::used_slots() const {
  static const std::vector<int> kNone;
  return impl_ != nullptr ? impl_->used_slots : kNone;
}

}  // namespace cairn::expr
