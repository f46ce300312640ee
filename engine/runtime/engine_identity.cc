// The engine's side of identity resolution (engine/identity/identity.h has
// the protocol): applying link, claim and merge records, and re-keying the
// events of merged-away ids. Everything goes into the batch in hand, like
// any other event's effects.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "runtime/engine.h"

namespace cairn::runtime {

void Engine::MarkDirty(state::CustomerCache::Entry& entry) {
  if (!entry.dirty) {
    entry.dirty = true;
    dirty_.push_back(&entry);
  }
}

void Engine::PublishInternal(int32_t partition, const v1::OutboxRecord& record) {
  outbox_->Stage(*building_, partition, record);
}

void Engine::IdentityTrace(state::CustomerCache::Entry& entry, TimestampMs now,
                           std::string reason) {
  v1::TraceEntry e;
  e.set_at_ms(now);
  e.set_customer(entry.state.id());
  e.set_action("identity");
  e.set_reason(std::move(reason));
  e.set_seq(entry.state.next_trace_seq());
  entry.state.set_next_trace_seq(entry.state.next_trace_seq() + 1);
  if (options_.trace_limit > 0)
    building_->PutTrace(entry.partition, entry.state.id(), e, options_.trace_limit);
}

bool Engine::ApplyIdentity(Pending& p, PartitionState& ps) {
  const identity::Kind kind = identity::KindOf(p.event);
  auto& entry = *p.entry;
  auto& st = entry.state;
  const auto& id = st.identity();
  const bool pointer = !id.forwarded_to().empty() && !id.node();
  if (kind == identity::Kind::kNone && !pointer) return false;
  if (st.id().empty()) st.set_id(p.event.customer_id());
  const TimestampMs now = options_.event_time_clock ? p.event.timestamp_ms : clock_->NowMs();
  const std::string& topic = options_.topics.events;
  auto dead = [&](std::string detail) {
    DeadLetter(*p.msg, {ingest::DeadLetterReason::kIdentity, std::move(detail)});
    ps.checkpoint.set_dead_letters(ps.checkpoint.dead_letters() + 1);
    counts_.dead++;
  };
  effects_entry_ = &entry;

  if (kind == identity::Kind::kNone) {
    // An event of a merged-away id: it belongs to the customer it went to.
    PublishInternal(entry.partition,
                    identity::ForwardRecord(
                        topic, p.event, id.forwarded_to(),
                        fmt::format("fwd:{}:{}:{}", topic, p.msg->partition, p.msg->offset)));
    ps.checkpoint.set_forwarded(ps.checkpoint.forwarded() + 1);
    counts_.forwarded++;
    effects_entry_ = nullptr;
    return true;
  }
  ps.checkpoint.set_identity_records(ps.checkpoint.identity_records() + 1);
  counts_.identity++;

  if (kind == identity::Kind::kMerge) {
    MergeIn(p, ps, now);
    effects_entry_ = nullptr;
    return true;
  }
  auto request = identity::ParseRequest(p.event);
  if (!request.ok()) {
    dead(request.status().message());
    effects_entry_ = nullptr;
    return true;
  }
  if (kind == identity::Kind::kClaim) {
    // This record is an identifier's node: it names the id that owns it.
    const identity::ClaimDecision d = identity::DecideClaim(options_.identity, st, *request);
    if (d.changed) MarkDirty(entry);
    if (!d.refused.empty()) {
      IdentityTrace(entry, now, d.refused);
      MarkDirty(entry);
    }
    if (!d.loser.empty()) {
      identity::Request link{d.winner, false, d.winner_identified, 0};
      PublishInternal(entry.partition, identity::LinkRecord(topic, d.loser, link, now));
      IdentityTrace(entry, now,
                    fmt::format("{} and {} share {}: {} merges into {}", d.loser, d.winner,
                                st.id().substr(identity::kNodePrefix.size()), d.loser, d.winner));
    }
  } else if (request->into == st.id() || id.node()) {
    // Nothing to do: a link to itself, or to an identifier node.
  } else if (pointer) {
    // Already merged into another customer: the two survivors are one person.
    if (id.forwarded_to() != request->into) {
      if (request->hops >= identity::kMaxHops) {
        dead(fmt::format("link {} -> {}: forwarded {} times (a cycle)", st.id(), request->into,
                         request->hops));
      } else {
        identity::Request next = *request;
        next.hops++;
        PublishInternal(entry.partition, identity::LinkRecord(topic, id.forwarded_to(), next, now));
      }
    }
  } else if (std::string why = identity::RefuseLink(options_.identity, st, *request);
             !why.empty()) {
    IdentityTrace(entry, now, why);
    MarkDirty(entry);
  } else {
    MergeOut(entry, ps, request->into, request->hops, now);
  }
  effects_entry_ = nullptr;
  return true;
}

void Engine::MergeOut(state::CustomerCache::Entry& entry, PartitionState& ps,
                      const std::string& into, uint32_t hops, TimestampMs now) {
  auto& st = entry.state;
  v1::IdentityMerge m;
  m.set_from(st.id());
  m.set_into(into);
  m.set_hops(hops);
  *m.mutable_state() = st;
  if (options_.state.history_limit > 0 && st.events_total() > 0) {
    auto history = store_->History(entry.partition, st.id(), options_.state.history_limit);
    if (history.ok()) {
      for (auto it = history->rbegin(); it != history->rend(); ++it) *m.add_history() = *it;
    } else {
      spdlog::warn(
          "identity merge of partition {}: history not read ({}); the counts move, the "
          "recent-event list does not",
          entry.partition, history.status().ToString());
    }
  }
  // The record must pass the ingest size limit as base64 in JSON: the
  // oldest history entries go first.
  const size_t limit = options_.parse.max_bytes * 7 / 10;
  while (m.ByteSizeLong() > limit && m.history_size() > 0)
    m.mutable_history()->DeleteSubrange(0, 1);

  flow::Context ctx{entry.partition, now, this, ps.checkpoint.mutable_profile(), &rfm_quantiles_};
  analytics_.Begin(entry.partition, st, nullptr, batch_catalog_.get());
  runtime_.OnMergedAway(ctx, st);
  ps.dirty = true;
  if (st.events_total() > 0) {
    ps.checkpoint.set_merged_away(ps.checkpoint.merged_away() + 1);
    counts_.merged++;
  }
  const uint64_t events = st.events_total();
  const int instances = st.instances_size();
  building_->DeleteRings(entry.partition, st.id());
  identity::BecomePointer(st, into);
  PublishInternal(entry.partition, identity::MergeRecord(options_.topics.events, m, now));
  IdentityTrace(entry, now,
                fmt::format("merged into {}: {} events, {} journey instances handed over", into,
                            events, instances));
  MarkDirty(entry);
}

void Engine::MergeIn(Pending& p, PartitionState& ps, TimestampMs now) {
  auto& entry = *p.entry;
  auto& st = entry.state;
  auto m = identity::ParseMerge(p.event);
  auto dead = [&](std::string detail) {
    DeadLetter(*p.msg, {ingest::DeadLetterReason::kIdentity, std::move(detail)});
    ps.checkpoint.set_dead_letters(ps.checkpoint.dead_letters() + 1);
    counts_.dead++;
  };
  if (!m.ok()) return dead(m.status().message());
  const auto& id = st.identity();
  if (!id.forwarded_to().empty() && !id.node()) {
    // This customer was merged away meanwhile: pass the state on.
    if (m->hops() >= identity::kMaxHops) {
      return dead(fmt::format("merge {} -> {}: forwarded {} times (a cycle)", m->from(), st.id(),
                              m->hops()));
    }
    m->set_into(id.forwarded_to());
    m->set_hops(m->hops() + 1);
    PublishInternal(entry.partition, identity::MergeRecord(options_.topics.events, *m, now));
    return;
  }
  if (std::binary_search(id.merged_from().begin(), id.merged_from().end(), m->from())) {
    return;  // a replay: folded in already
  }
  const bool was_new = st.events_total() == 0;
  const identity::FoldResult r = identity::Fold(options_.identity, m->state(), st);
  if (was_new && st.events_total() > 0) {
    ps.checkpoint.set_customers(ps.checkpoint.customers() + 1);
    counts_.customers++;
  }
  if (options_.state.history_limit > 0) {
    for (auto h : m->history()) {
      h.set_seq(st.next_history_seq());
      building_->PutHistory(entry.partition, st.id(), h, options_.state.history_limit);
      st.set_next_history_seq(st.next_history_seq() + 1);
    }
  }
  flow::Context ctx{entry.partition, now, this, ps.checkpoint.mutable_profile(), &rfm_quantiles_};
  analytics_.Begin(entry.partition, st, nullptr, batch_catalog_.get());
  runtime_.OnMerged(ctx, st, m->state(), r.moved);
  ps.dirty = true;
  std::string dedup;
  for (const auto& j : r.deduplicated) dedup += (dedup.empty() ? "" : ", ") + j;
  IdentityTrace(entry, now,
                fmt::format("merged {} in: {} events, {} journey instances taken over{}", m->from(),
                            m->state().events_total(), r.moved.size(),
                            dedup.empty() ? "" : "; already running here, not taken: " + dedup));
  MarkDirty(entry);
}

void Engine::LinkIdentities(Pending& p, TimestampMs now) {
  auto& entry = *p.entry;
  auto& st = entry.state;
  const Event& e = p.event;
  // Fast path: only events that name a second id, or identify, can link.
  const bool may_link = e.type == EventType::kIdentify || e.type == EventType::kAlias ||
                        (!e.anonymous_id.empty() && !e.user_id.empty()) ||
                        (!e.user_id.empty() && !st.identity().identified());
  if (!options_.identity.enabled || !may_link) return;
  const identity::Links links = identity::NewLinks(options_.identity, e, st);
  if (links.empty()) return;
  const std::string& topic = options_.topics.events;
  const bool identified = st.identity().identified();
  auto link = [&](const std::string& other, bool alias) {
    identity::Request r{st.id(), alias, identified, 0};
    PublishInternal(entry.partition, identity::LinkRecord(topic, other, r, now));
    IdentityTrace(
        entry, now,
        fmt::format("{} {}: asked its record to merge in", alias ? "alias" : "linked", other));
  };
  for (const auto& other : links.ids) link(other, false);
  if (!links.alias_id.empty()) link(links.alias_id, true);
  for (const auto& node : links.nodes) {
    identity::Request r{st.id(), false, identified, 0};
    PublishInternal(entry.partition, identity::ClaimRecord(topic, node, r, now));
  }
}

}  // namespace cairn::runtime
