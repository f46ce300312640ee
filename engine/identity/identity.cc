#include "identity/identity.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <nlohmann/json.hpp>

#include "cairn/base64.h"
#include "cairn/time.h"
#include "governance/governor.h"
#include "profile/merge.h"
#include "profile/profiler.h"

namespace cairn::identity {
namespace {

using json = nlohmann::json;
using Strings = google::protobuf::RepeatedPtrField<std::string>;

// Inserts `v` keeping `list` sorted; false when it was there already.
bool InsertSorted(Strings* list, std::string_view v) {
  auto it = std::lower_bound(list->begin(), list->end(), v,
                             [](const std::string& a, std::string_view b) { return a < b; });
  if (it != list->end() && *it == v) return false;
  const auto pos = it - list->begin();
  list->Add(std::string(v));
  for (auto i = list->size() - 1; i > pos; --i) list->SwapElements(i, i - 1);
  return true;
}

json ParseObject(const std::string& text) {
  auto j =
      json::parse(text.empty() ? std::string_view("{}") : std::string_view(text), nullptr, false);
  return j.is_object() ? j : json::object();
}

// The node key of an identifier trait's value, or "" when the value cannot
// name one person. Values are hashed as the suppression list hashes them
// (governance: e-mail trimmed and lower-cased, phone "+" and digits), so no
// address is ever a key.
std::string NodeKey(const std::string& trait, std::string_view value) {
  size_t digits = 0;
  for (char c : value) digits += std::isdigit(static_cast<unsigned char>(c)) != 0;
  std::string hash;
  if (trait == "email") {
    if (value.find('@') == std::string_view::npos) return {};
    hash = governance::HashEmail(value);
  } else if (trait == "phone") {
    if (digits < 6) return {};  // too short to name one person
    hash = governance::HashPhone(value);
  } else {
    while (!value.empty() && std::isspace(static_cast<unsigned char>(value.front())))
      value.remove_prefix(1);
    while (!value.empty() && std::isspace(static_cast<unsigned char>(value.back())))
      value.remove_suffix(1);
    if (value.empty()) return {};
    hash = governance::Sha256Hex(value);
  }
  return fmt::format("{}{}:{}", kNodePrefix, trait, hash);
}

v1::OutboxRecord Record(std::string_view topic, std::string_view key, std::string_view name,
                        std::string_view id, TimestampMs now, const json& props) {
  return profile::EventRecord(topic, key, name, id, now, props.dump(),
                              R"({"cairn":{"source":"identity"}})");
}

const char* ModeName(MergeIdentified m) {
  switch (m) {
    case MergeIdentified::kNever:
      return "never";
    case MergeIdentified::kAlias:
      return "alias";
    case MergeIdentified::kAlways:
      return "always";
  }
  return "?";
}

}  // namespace

Kind KindOf(const Event& event) {
  if (event.name.size() < 16 || event.name[0] != '$') return Kind::kNone;
  if (event.name == kLinkEvent) return Kind::kLink;
  if (event.name == kMergeEvent) return Kind::kMerge;
  if (event.name == kClaimEvent) return Kind::kClaim;
  return Kind::kNone;
}

Result<Request> ParseRequest(const Event& event) {
  const json p = ParseObject(event.properties_json);
  Request r;
  auto into = p.find("into");
  if (into == p.end() || !into->is_string() || into->get<std::string>().empty()) {
    return InvalidArgument(
        fmt::format("{}: properties.into must be a non-empty string", event.name));
  }
  r.into = into->get<std::string>();
  r.alias = p.value("alias", false);
  r.identified = p.value("identified", false);
  r.hops = p.value("hops", 0u);
  return r;
}

Result<v1::IdentityMerge> ParseMerge(const Event& event) {
  const json p = ParseObject(event.properties_json);
  auto state = p.find("state");
  if (state == p.end() || !state->is_string()) {
    return InvalidArgument("identity merge: properties.state must be a base64url string");
  }
  auto bytes = Base64UrlDecode(state->get<std::string>());
  if (!bytes.ok()) return InvalidArgument("identity merge: " + bytes.status().message());
  v1::IdentityMerge m;
  if (!m.ParseFromString(*bytes) || m.from().empty() || m.into().empty()) {
    return InvalidArgument("identity merge: state is not a cairn.v1.IdentityMerge with from/into");
  }
  return m;
}

Links NewLinks(const Options& options, const Event& event, v1::CustomerState& customer) {
  Links out;
  auto& id = *customer.mutable_identity();
  const std::string& self = customer.id();
  // A userId marks an identified profile, unless Cairn itself wrote the event
  // (profile and journey events, outcomes, label imports, re-keyed copies
  // carry context.cairn and address every customer by userId).
  if (!event.user_id.empty() && event.user_id == self && !id.identified() &&
      event.context_json.find("\"cairn\"") == std::string::npos) {
    id.set_identified(true);
  }
  auto fresh = [&](const std::string& other) {
    return !other.empty() && other != self && InsertSorted(id.mutable_linked(), other);
  };
  if (event.user_id == self && fresh(event.anonymous_id)) out.ids.push_back(event.anonymous_id);
  if (event.type == EventType::kAlias && fresh(event.previous_id)) out.alias_id = event.previous_id;
  if (event.type == EventType::kIdentify && !options.identifiers.empty()) {
    const json traits = ParseObject(customer.traits_json());
    for (const auto& name : options.identifiers) {
      auto it = traits.find(name);
      if (it == traits.end() || !it->is_string()) continue;
      std::string node = NodeKey(name, it->get<std::string>());
      if (node.empty()) continue;
      if (InsertSorted(id.mutable_linked(), node)) out.nodes.push_back(std::move(node));
    }
  }
  return out;
}

v1::OutboxRecord LinkRecord(std::string_view topic, std::string_view key, const Request& request,
                            TimestampMs now) {
  json p = {{"into", request.into},
            {"alias", request.alias},
            {"identified", request.identified},
            {"hops", request.hops}};
  return Record(topic, key, kLinkEvent,
                fmt::format("idl:{}>{}:{}", key, request.into, request.hops), now, p);
}

v1::OutboxRecord ClaimRecord(std::string_view topic, std::string_view node, const Request& request,
                             TimestampMs now) {
  json p = {{"into", request.into}, {"identified", request.identified}};
  return Record(topic, node, kClaimEvent, fmt::format("idc:{}>{}", node, request.into), now, p);
}

v1::OutboxRecord MergeRecord(std::string_view topic, const v1::IdentityMerge& merge,
                             TimestampMs now) {
  json p = {{"from", merge.from()},
            {"hops", merge.hops()},
            {"state", Base64UrlEncode(merge.SerializeAsString())}};
  return Record(topic, merge.into(), kMergeEvent,
                fmt::format("idm:{}>{}:{}", merge.from(), merge.into(), merge.hops()), now, p);
}

v1::OutboxRecord ForwardRecord(std::string_view topic, const Event& event, std::string_view to,
                               std::string_view fallback_id) {
  json e;
  e["type"] = std::string(EventTypeName(event.type));
  // Re-keyed to `to`, addressed as the original was: an anonymous event stays
  // anonymous (it does not make the survivor an identified profile).
  if (event.user_id.empty()) {
    e["anonymousId"] = to;
  } else {
    e["userId"] = to;
    if (!event.anonymous_id.empty()) e["anonymousId"] = event.anonymous_id;
  }
  if (event.type == EventType::kTrack) e["event"] = event.name;
  if (event.type == EventType::kPage || event.type == EventType::kScreen) {
    // The parser names these "Page Viewed" / "Screen Viewed"; keep the page name.
    e["name"] = event.name;
  }
  if (event.type == EventType::kAlias) e["previousId"] = event.previous_id;
  e["messageId"] = event.message_id.empty() ? std::string(fallback_id) : event.message_id;
  e["timestamp"] = FormatTimestamp(event.timestamp_ms);
  e["properties"] = ParseObject(event.properties_json);
  if (event.type == EventType::kIdentify || event.type == EventType::kGroup) {
    e["traits"] = ParseObject(event.traits_json);
  }
  json ctx = ParseObject(event.context_json);
  ctx["cairn"]["forwarded_from"] = event.customer_id();
  e["context"] = std::move(ctx);
  v1::OutboxRecord rec;
  rec.set_topic(std::string(topic));
  rec.set_key(std::string(to));
  rec.set_value(e.dump());
  (*rec.mutable_headers())["content-type"] = "application/json";
  return rec;
}

ClaimDecision DecideClaim(const Options& options, v1::CustomerState& node, const Request& claim) {
  ClaimDecision d;
  auto& id = *node.mutable_identity();
  if (!id.node()) {
    id.set_node(true);
    d.changed = true;
  }
  const std::string owner = id.forwarded_to();
  if (owner.empty() || owner == claim.into) {
    if (owner.empty() || (claim.identified && !id.identified())) d.changed = true;
    id.set_forwarded_to(claim.into);
    id.set_identified(id.identified() || claim.identified);
    return d;
  }
  if (id.identified() && claim.identified && options.merge_identified != MergeIdentified::kAlways) {
    d.refused = fmt::format(
        "{} and {} are both identified profiles; not merged (identity.merge_identified: {})", owner,
        claim.into, ModeName(options.merge_identified));
    return d;
  }
  // The identified one survives; between two anonymous ones, the first owner.
  if (claim.identified && !id.identified()) {
    d.winner = claim.into;
    d.loser = owner;
  } else {
    d.winner = owner;
    d.loser = claim.into;
  }
  d.winner_identified = id.identified() || claim.identified;
  id.set_forwarded_to(d.winner);
  id.set_identified(d.winner_identified);
  d.changed = true;
  return d;
}

std::string RefuseLink(const Options& options, const v1::CustomerState& target,
                       const Request& request) {
  if (!target.identity().identified() || !request.identified) return {};
  if (options.merge_identified == MergeIdentified::kAlways) return {};
  if (options.merge_identified == MergeIdentified::kAlias && request.alias) return {};
  return fmt::format(
      "{} and {} are both identified profiles; not merged (identity.merge_identified: {})",
      target.id(), request.into, ModeName(options.merge_identified));
}

FoldResult Fold(const Options& options, const v1::CustomerState& from, v1::CustomerState& into) {
  FoldResult r;

  // Traits: the survivor's win; consent takes the stricter stated value.
  json a = ParseObject(from.traits_json());
  json b = ParseObject(into.traits_json());
  json traits = a;
  for (auto& [k, v] : b.items()) traits[k] = v;
  const json* ca = a.contains("consent") && a["consent"].is_object() ? &a["consent"] : nullptr;
  const json* cb = b.contains("consent") && b["consent"].is_object() ? &b["consent"] : nullptr;
  if (ca != nullptr && (cb != nullptr || !b.contains("consent"))) {
    json consent = cb != nullptr ? *cb : json::object();
    for (auto& [channel, v] : ca->items()) {
      auto mine = consent.find(channel);
      if (mine == consent.end()) {
        consent[channel] = v;
      } else if (v.is_boolean() && mine->is_boolean()) {
        *mine = v.get<bool>() && mine->get<bool>();
      } else if (v.is_boolean() && !mine->is_boolean() && !v.get<bool>()) {
        *mine = false;
      }
    }
    traits["consent"] = std::move(consent);
  }
  into.set_traits_json(traits.dump());

  // Event counts and sums, as if one stream had been seen.
  for (const auto& s : from.events()) {
    v1::EventStats* t = nullptr;
    for (auto& mine : *into.mutable_events()) {
      if (mine.name() == s.name()) {
        t = &mine;
        break;
      }
    }
    if (t == nullptr) {
      *into.add_events() = s;
      continue;
    }
    t->set_count(t->count() + s.count());
    if (s.first_at_ms() != 0 && (t->first_at_ms() == 0 || s.first_at_ms() < t->first_at_ms()))
      t->set_first_at_ms(s.first_at_ms());
    t->set_last_at_ms(std::max(t->last_at_ms(), s.last_at_ms()));
    for (const auto& [k, v] : s.sums()) (*t->mutable_sums())[k] += v;
  }
  if (from.first_seen_ms() != 0 &&
      (into.first_seen_ms() == 0 || from.first_seen_ms() < into.first_seen_ms()))
    into.set_first_seen_ms(from.first_seen_ms());
  into.set_last_seen_ms(std::max(into.last_seen_ms(), from.last_seen_ms()));
  into.set_events_total(into.events_total() + from.events_total());

  // The dedup window covers both: a forwarded replay of A's event is dropped.
  std::vector<uint64_t> ids(from.recent_message_ids().begin(), from.recent_message_ids().end());
  for (uint64_t h : into.recent_message_ids()) {
    if (std::find(ids.begin(), ids.end(), h) == ids.end()) ids.push_back(h);
  }
  if (ids.size() > options.dedup_window) ids.erase(ids.begin(), ids.end() - options.dedup_window);
  into.mutable_recent_message_ids()->Assign(ids.begin(), ids.end());

  // Journey entries add up; moved instances are numbered after the survivor's.
  std::map<std::string, uint64_t> next_id;
  for (const auto& e : into.journey_entries()) next_id[e.journey()] = e.entries();
  for (const auto& i : into.instances())
    next_id[i.journey()] = std::max(next_id[i.journey()], i.id());
  for (const auto& e : from.journey_entries()) {
    v1::JourneyEntries* t = nullptr;
    for (auto& mine : *into.mutable_journey_entries()) {
      if (mine.journey() == e.journey()) t = &mine;
    }
    if (t == nullptr) {
      t = into.add_journey_entries();
      t->set_journey(e.journey());
    }
    t->set_entries(t->entries() + e.entries());
    t->set_last_entered_ms(std::max(t->last_entered_ms(), e.last_entered_ms()));
    t->set_last_run_ms(std::max(t->last_run_ms(), e.last_run_ms()));
  }
  for (const auto& fi : from.instances()) {
    bool active = false, any = false;
    for (const auto& mine : into.instances()) {
      if (mine.journey() != fi.journey()) continue;
      any = true;
      active = active || !mine.done();
    }
    if (fi.done() ? any : active) {
      r.deduplicated.push_back(fi.journey());
      continue;
    }
    const uint64_t id = ++next_id[fi.journey()];
    for (const auto& d : from.deferred()) {
      if (d.journey() == fi.journey() && d.instance() == fi.id()) {
        auto* moved = into.add_deferred();
        *moved = d;
        moved->set_instance(id);
      }
    }
    auto* inst = into.add_instances();
    *inst = fi;
    inst->set_id(id);
    inst->set_wait_tag(0);  // the runtime re-arms its timer
    r.moved.push_back(into.instances_size() - 1);
    for (auto& e : *into.mutable_journey_entries()) {
      if (e.journey() == fi.journey() && e.entries() < id) e.set_entries(id);
    }
  }

  // Labels and governance send records are united.
  profile::MergeLabels(*into.mutable_labels(), from.labels());
  if (from.sent_size() > 0) {
    std::vector<v1::SendRecord> sent(into.sent().begin(), into.sent().end());
    sent.insert(sent.end(), from.sent().begin(), from.sent().end());
    std::stable_sort(sent.begin(), sent.end(),
                     [](const auto& x, const auto& y) { return x.at_ms() < y.at_ms(); });
    into.mutable_sent()->Clear();
    for (auto& s : sent) *into.add_sent() = std::move(s);
  }
  // wait_for look-back: both customers' recent events, in time order, as
  // many as the longer of the two kept.
  if (from.lookback_size() > 0) {
    const size_t keep = static_cast<size_t>(std::max(from.lookback_size(), into.lookback_size()));
    std::vector<v1::RecentEvent> recent(into.lookback().begin(), into.lookback().end());
    recent.insert(recent.end(), from.lookback().begin(), from.lookback().end());
    std::stable_sort(recent.begin(), recent.end(), [](const auto& x, const auto& y) {
      return x.timestamp_ms() < y.timestamp_ms();
    });
    if (recent.size() > keep) recent.erase(recent.begin(), recent.end() - keep);
    into.mutable_lookback()->Clear();
    for (auto& e : recent) *into.add_lookback() = std::move(e);
  }
  // Absence and date triggers are armed again from the merged record.
  into.set_catalog_generation(0);

  auto& id = *into.mutable_identity();
  InsertSorted(id.mutable_merged_from(), from.id());
  for (const auto& m : from.identity().merged_from()) InsertSorted(id.mutable_merged_from(), m);
  InsertSorted(id.mutable_linked(), from.id());
  for (const auto& l : from.identity().linked()) {
    if (l != into.id()) InsertSorted(id.mutable_linked(), l);
  }
  return r;
}

void BecomePointer(v1::CustomerState& customer, std::string_view to) {
  v1::CustomerState p;
  p.set_id(customer.id());
  *p.mutable_recent_message_ids() = customer.recent_message_ids();
  p.set_next_trace_seq(customer.next_trace_seq());
  p.set_next_timer_tag(customer.next_timer_tag());
  p.set_next_history_seq(customer.next_history_seq());
  auto& id = *p.mutable_identity();
  id.set_forwarded_to(std::string(to));
  id.set_identified(customer.identity().identified());
  *id.mutable_merged_from() = customer.identity().merged_from();
  customer = std::move(p);
}

}  // namespace cairn::identity
