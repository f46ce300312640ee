// The profile endpoints (docs/profiles.md):
//   GET /v1/segments               every declared segment with its live size
//   GET /v1/segments/{name}        size, condition and a sample of members (?sample=N, max 1000)
//   GET /v1/lifecycle              customers per stage now, and per day (?days=N, max 366)
// Sizes are the live counts kept in the partitions' checkpoints (written with
// the customers that change them), members come from the segment index.
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "api/http_server.h"
#include "flow/catalog.h"
#include "state/state_store.h"

namespace cairn::api {

std::vector<Route> ProfileRoutes(state::StateStore* store, std::string events_topic,
                                 std::function<std::shared_ptr<const flow::Catalog>()> catalog);

// A customer's computed traits (valued at `now`), RFM, stage and segments.
nlohmann::json ProfileJson(const profile::Model& model, const v1::CustomerState& state,
                           TimestampMs now);

}  // namespace cairn::api
