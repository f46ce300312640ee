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

const std::vector<int>& Program::used_slots() const {
  static const std::vector<int> kNone;
  return impl_ != nullptr ? impl_->used_slots : kNone;
}

}  // namespace cairn::expr
