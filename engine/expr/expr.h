// Cairn's expression language: a subset of CEL (https://cel.dev), used for
// every condition in a journey (audience, trigger filters, branches, waits).
//
//   Compile() once when a journey is loaded: parse, resolve identifiers to
//   slots, type-check against the declared shape of the variables, and
//   produce a compiled Program. Every error names file:line:col.
//   Program::Eval() on the hot path: no parsing, no allocation for scalar
//   results, bounded by Limits::max_steps.
//
// Threading: a Program is immutable after Compile and may be evaluated from
// any number of threads at once. Values are immutable; copies share storage.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cairn/clock.h"
#include "cairn/status.h"

namespace cairn::expr {

// Where an expression's text begins in its file. Errors inside the
// expression are reported at that position plus the offset into the text
// (a YAML scalar on one line: same line, column + offset).
struct SourceLocation {
  std::string file;
  int line = 1;    // 1-based
  int column = 1;  // 1-based
};

enum class Kind : uint8_t {
  kNull,
  kBool,
  kInt,
  kUint,
  kDouble,
  kString,
  kBytes,
  kList,
  kMap,
  kTimestamp,  // UTC, nanosecond precision
  kDuration,   // nanosecond precision
  kType,       // the value of type(x)
};
// CEL's names: "int", "string", "google.protobuf.Timestamp", "null_type" ...
std::string_view KindName(Kind kind);

class Value;
using ValueList = std::vector<Value>;
using ValueMap = std::vector<std::pair<Value, Value>>;  // insertion order; keys unique

class Value {
 public:
  Value();  // null
  static Value Null();
  static Value Bool(bool b);
  static Value Int(int64_t i);
  static Value Uint(uint64_t u);
  static Value Double(double d);
  static Value String(std::string s);
  static Value Bytes(std::string b);
  static Value List(ValueList items);
  static Value Map(ValueMap entries);
  static Value TimestampNanos(int64_t seconds, int32_t nanos);
  static Value TimestampFromMs(TimestampMs ms);
  static Value DurationNanos(int64_t seconds, int32_t nanos);
  static Value DurationFromMs(int64_t ms);
  // The value of a type, as type(x) gives it: "int", "string", "list",
  // "google.protobuf.Timestamp", "type", ...
  static Value TypeValue(std::string_view name);
  // A JSON document (object, array or scalar) as CEL values: objects become
  // maps with string keys, integral numbers int (double beyond int64), other
  // numbers double. Invalid JSON gives null.
  static Value FromJson(std::string_view json_text);
  // FromJson of a JSON object keeping only the top-level `fields` (string
  // values, sorted) that are present; the keys of the result share the
  // fields' storage. Anything but an object is converted whole.
  static Value FromJsonFields(std::string_view json_text, const std::vector<Value>& fields);

  Kind kind() const;
  bool is_null() const { return kind() == Kind::kNull; }
  bool bool_value() const;
  int64_t int_value() const;
  uint64_t uint_value() const;
  double double_value() const;
  // kString and kBytes (and the name of a kType). Accessors of another kind
  // than the value's give a zero value (false, 0, empty), never crash.
  const std::string& string_value() const;
  const ValueList& list() const;
  const ValueMap& map() const;
  // Map lookup by key; nullptr when absent (or not a map).
  const Value* Find(const Value& key) const;
  const Value* Find(std::string_view string_key) const;
  // kTimestamp as ms since the epoch (truncated); kDuration as ms.
  int64_t millis() const;
  // kTimestamp: seconds since the epoch and nanos in [0, 1e9).
  int64_t timestamp_seconds() const;
  int32_t timestamp_nanos() const;
  // kDuration in nanoseconds (durations span about +-292 years, like cel-go).
  int64_t duration_nanos() const;

  // CEL equality (1 == 1.0 == 1u is true; lists and maps element-wise).
  bool Equals(const Value& other) const;
  // A compact debug/JSON-ish rendering, for diagnostics and traces.
  std::string DebugString() const;
  // JSON text for storing and emitting: timestamps as RFC 3339 strings,
  // durations as "<seconds>s", bytes as base64.
  std::string ToJson() const;

 private:
  struct Rep;
  std::shared_ptr<const Rep> rep_;  // strings, bytes, lists, maps, types; null otherwise
  // Scalars live inline, so copying them never touches a reference count:
  // bool, int, uint, double (bit pattern), timestamp seconds, duration nanos.
  uint64_t bits_ = 0;
  int32_t nanos_ = 0;  // kTimestamp: nanos of the second
  Kind kind_ = Kind::kNull;
};

inline Kind Value::kind() const { return kind_; }

// Parses a duration: CEL's "1h30m", "1.5s", "-10ms", "90s", plus the day
// unit marketers use ("90d", "2d12h"). Units: d h m s ms us ns.
// Returns nullopt-like error text via Result.
Result<int64_t> ParseDurationMs(std::string_view text);

// ---- Declarations: the variables an expression may use, with their shape.

// A structural type. kDyn accepts anything (JSON properties). An object type
// (kMap with `fields` and closed = true) lets the checker reject
// `event.nmae` at load time; closed = false allows fields it does not know
// (they are dyn).
struct Type {
  enum class Base : uint8_t {
    kDyn,
    kNull,
    kBool,
    kInt,
    kUint,
    kDouble,
    kString,
    kBytes,
    kList,
    kMap,
    kTimestamp,
    kDuration
  };
  Base base = Base::kDyn;
  std::shared_ptr<const Type> element;  // kList element / kMap value type; null = dyn
  std::map<std::string, Type> fields;   // kMap with known string keys
  bool closed = false;                  // kMap: only `fields` exist

  static Type Dyn() { return {}; }
  static Type Of(Base b) {
    Type t;
    t.base = b;
    return t;
  }
  static Type ListOf(Type element);
  static Type MapOf(Type value);  // string keys, open
  static Type Object(std::map<std::string, Type> fields, bool closed = true);
};

struct Declarations {
  // Variables in slot order: Activation::Resolve(slot) answers variables[slot].
  std::vector<std::pair<std::string, Type>> variables;
  // Index of `name`, or -1.
  int SlotOf(std::string_view name) const;
};

// Exceeding max_source_bytes or max_depth is a compile error, max_steps an
// evaluation error. max_depth is capped at 1000 (recursion in the compiler
// and evaluator is bounded by it); `a || b || c ...` chains are balanced, so
// they count log2(n) levels.
struct Limits {
  int max_depth = 64;              // nesting of the parse tree
  int64_t max_steps = 10000;       // evaluation steps (nodes visited, list items iterated)
  size_t max_source_bytes = 8192;  // length of the expression text
};

// What a Program evaluates against. Resolve is called at most once per slot
// per Eval, only for slots the expression uses, so an implementation can
// build expensive values (parsed JSON properties) lazily.
class Activation {
 public:
  virtual ~Activation() = default;
  virtual Value Resolve(int slot) const = 0;
  // `var.field` (and has(var.field)) with a constant field, before `var` was
  // resolved: a host that builds a variable from many parts may answer the
  // one field without building the rest. Returns false to have the whole
  // variable resolved instead; else sets *found (false: no such key) and,
  // when found, *out. Must agree with Resolve(slot).
  virtual bool ResolveField(int slot, std::string_view field, Value* out, bool* found) const {
    (void)slot, (void)field, (void)out, (void)found;
    return false;
  }
  // The value of `now` (a timestamp) and the base of days_since().
  virtual TimestampMs Now() const = 0;
};

class Program {
 public:
  Program();
  ~Program();
  Program(Program&&) noexcept;
  Program& operator=(Program&&) noexcept;
  Program(const Program&);  // cheap: shares the compiled form
  Program& operator=(const Program&);

  // Evaluates; a runtime error (no such key, division by zero, type
  // mismatch on dyn, step limit) is a Status whose message starts with the
  // file:line:col of the failing sub-expression.
  Result<Value> Eval(const Activation& activation) const;
  // Eval that must give a bool; any other result is an error.
  Result<bool> EvalBool(const Activation& activation) const;
  // For a program made only of comparisons of a variable's field with a
  // constant (`v.f >= 3`, `'x' == v.f`) joined by && and ||, its result
  // read field by field through Activation::ResolveField, without the
  // interpreter and without allocating. nullopt when the program is not of
  // that form, when the activation does not resolve such a field alone, or
  // when evaluating would be an error: EvalBool then gives the answer (or
  // the error). Whenever it answers, the answer is EvalBool's.
  std::optional<bool> EvalComparisons(const Activation& activation) const;
  // The form EvalComparisons walks, for a host that compiles it further:
  // the root first; an entry is && or || of two others (short-circuit, left
  // first) or `var.field <op> constant`. Empty when the program is not of
  // that form. Views into the compiled form (see ForEachField).
  struct Comparison {
    enum class Op : uint8_t { kAnd, kOr, kEq, kNe, kLt, kLe, kGt, kGe };
    Op op = Op::kAnd;
    int32_t a = -1, b = -1;           // kAnd, kOr: the operands' entries
    int slot = -1;                    // a comparison: the variable's slot,
    std::string_view field;           // the field,
    const Value* constant = nullptr;  // the constant
    bool field_left = true;           // and the side the field is on
  };
  std::vector<Comparison> Comparisons() const;

  const std::string& source() const;
  // The checked result type (kDyn when it depends on dyn inputs).
  const Type& result_type() const;
  // Calls fn(name) for each field the program selects by a constant name on
  // the variable in `slot` (`v.f`, has(v.f)). The names live as long as the
  // compiled form, which copies share: a host may key on their addresses.
  void ForEachField(int slot, const std::function<void(const std::string&)>& fn) const;
  // Slots of the variables the expression reads, ascending.
  const std::vector<int>& used_slots() const;
  // The top-level fields the expression reads of the variable in `slot`
  // (`v.f`, `has(v.f)`, `v['f']`), into `fields` (sorted, unique). False
  // when it uses the variable any other way (whole, a computed key, ...), so
  // a host may then build only those fields of an expensive variable.
  bool SelectedFields(int slot, std::vector<std::string>* fields) const;

 private:
  friend Result<Program> Compile(std::string_view, const Declarations&, const SourceLocation&,
                                 const Limits&);
  struct Impl;
  std::shared_ptr<const Impl> impl_;
};

// Parses, checks and compiles `source`. Errors: "file:line:col: message",
// several joined by '\n' when there are several.
Result<Program> Compile(std::string_view source, const Declarations& declarations,
                        const SourceLocation& at, const Limits& limits = {});

// Compile for a condition: also an error when the checked result type is
// known and not bool (`event.properties.total + 1`). Use with EvalBool.
Result<Program> CompileCondition(std::string_view source, const Declarations& declarations,
                                 const SourceLocation& at, const Limits& limits = {});

}  // namespace cairn::expr
