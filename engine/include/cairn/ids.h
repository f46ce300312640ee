// Strong id types for values that cross module boundaries, so a customer id
// can never be passed where a journey id is expected.
#pragma once

#include <compare>
#include <functional>
#include <string>
#include <utility>

namespace cairn {

template <typename Tag>
class StrongId {
 public:
  StrongId() = default;
  explicit StrongId(std::string value) : value_(std::move(value)) {}
  const std::string& value() const { return value_; }
  bool empty() const { return value_.empty(); }
  auto operator<=>(const StrongId&) const = default;

 private:
  std::string value_;
};

// The customer a message is about: Segment userId, else anonymousId.
using CustomerId = StrongId<struct CustomerIdTag>;

}  // namespace cairn

template <typename Tag>
struct std::hash<cairn::StrongId<Tag>> {
  size_t operator()(const cairn::StrongId<Tag>& id) const noexcept {
    return std::hash<std::string>()(id.value());
  }
};
