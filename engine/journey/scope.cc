#include "journey/scope.h"

namespace cairn::journey {

namespace {

expr::Type EventType() {
  using B = expr::Type::Base;
  return expr::Type::Object({
      {"name", expr::Type::Of(B::kString)},
      {"type", expr::Type::Of(B::kString)},
      {"timestamp", expr::Type::Of(B::kTimestamp)},
      {"message_id", expr::Type::Of(B::kString)},
      {"properties", expr::Type::MapOf(expr::Type::Dyn())},
      {"context", expr::Type::MapOf(expr::Type::Dyn())},
      {"traits", expr::Type::MapOf(expr::Type::Dyn())},
  });
}

expr::Declarations Make() {
  using B = expr::Type::Base;
  using T = expr::Type;
  const T stats = T::Object({
      {"count", T::Of(B::kInt)},
      {"first_at", T::Of(B::kTimestamp)},
      {"last_at", T::Of(B::kTimestamp)},
      {"sums", T::MapOf(T::Of(B::kDouble))},
  });
  expr::Declarations d;
  d.variables = {
      {"event", EventType()},
      {"entry", EventType()},
      {"traits", T::MapOf(T::Dyn())},
      {"customer", T::Object({
                       {"id", T::Of(B::kString)},
                       {"first_seen", T::Of(B::kTimestamp)},
                       {"last_seen", T::Of(B::kTimestamp)},
                       {"events_total", T::Of(B::kInt)},
                       {"events", T::MapOf(stats)},
                       {"labels", T::ListOf(T::Of(B::kString))},
                       {"segments", T::ListOf(T::Of(B::kString))},
                       {"stage", T::Of(B::kString)},
                   })},
      {"instance", T::Object({
                       {"journey", T::Of(B::kString)},
                       {"version", T::Of(B::kInt)},
                       {"step", T::Of(B::kString)},
                       {"entered_at", T::Of(B::kTimestamp)},
                       {"arm", T::Of(B::kString)},
                       {"loops", T::Of(B::kInt)},
                   })},
      {"change", T::Object({
                     {"trait", T::Of(B::kString)},
                     {"old", T::Dyn()},
                     {"new", T::Dyn()},
                 })},
  };
  return d;
}

}  // namespace

const expr::Declarations& JourneyDeclarations() {
  static const expr::Declarations kDeclarations = Make();
  return kDeclarations;
}

}  // namespace cairn::journey
