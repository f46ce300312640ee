// Identity resolution: which ids are one person, and how their records
// become one customer.
//
// Kafka partitions by customer id, so two ids of one person may live on
// different partitions or instances. Nothing reaches across: every step is
// an internal record on the events topic, keyed by the id it is about, and
// applied by whichever instance owns that id, in that event's WriteBatch:
//
//   identify {userId U, anonymousId A} on U      ─► link  (key A, into U)
//   alias {userId U, previousId P} on U          ─► link  (key P, into U, alias)
//   identify {userId U, traits.email E} on U     ─► claim (key "$id:email:E", owner U)
//   claim on a node owned by V ≠ U               ─► link  (key loser, into winner)
//   link on A: A's whole record                  ─► merge (key U, state of A);
//              A becomes a forward pointer to U
//   merge on U: A's record folded into U's (rules below)
//   any later event keyed A                      ─► re-keyed copy to U
//
// Every record is idempotent on replay (a forward pointer to U ignores a
// second link into U; U lists the ids folded in and ignores a second merge),
// so exactly-once state holds across the merge with the outbox's
// at-least-once publishing.
//
// Merge rules (docs/identity.md): the surviving record's traits win, except
// consent, which takes the stricter stated value per channel; counts, sums
// and computed traits add up as if one stream had been seen; labels and
// send records are united; in-flight instances of one journey are
// deduplicated (the survivor's stays); two identified profiles are merged
// only as `merge_identified` allows.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "cairn/clock.h"
#include "cairn/event.h"
#include "cairn/status.h"
#include "cairn/v1/state.pb.h"

namespace cairn::identity {

// Internal event names (track events; producers must not use the "$cairn." prefix).
inline constexpr std::string_view kLinkEvent = "$cairn.identity.link";
inline constexpr std::string_view kMergeEvent = "$cairn.identity.merge";
inline constexpr std::string_view kClaimEvent = "$cairn.identity.claim";
// Key prefix of identifier claim nodes: "$id:" <trait> ":" <sha256 hex of the
// normalized value> (the suppression list's digest: no address is a key).
inline constexpr std::string_view kNodePrefix = "$id:";
// A record forwarded this many times is dead-lettered (a merge cycle).
inline constexpr uint32_t kMaxHops = 8;

enum class MergeIdentified {
  kNever,   // two identified profiles are never merged
  kAlias,   // only by an explicit alias event (default)
  kAlways,  // also when they share an identifier (email, phone, ...)
};

struct Options {
  bool enabled = true;
  MergeIdentified merge_identified = MergeIdentified::kAlias;
  // Traits that identify a person across ids (matched after normalizing:
  // e-mail lower-cased and trimmed, phone numbers reduced to + and digits).
  std::vector<std::string> identifiers = {"email", "phone"};
  uint32_t dedup_window = 64;  // messageIds kept per customer (state.dedup_window)
};

enum class Kind { kNone, kLink, kMerge, kClaim };
Kind KindOf(const Event& event);

// A parsed link or claim record.
struct Request {
  std::string into;         // link: the survivor; claim: the claiming customer
  bool alias = false;       // link: asked for by an alias event
  bool identified = false;  // the survivor / claimant is an identified profile
  uint32_t hops = 0;
};
Result<Request> ParseRequest(const Event& event);
Result<v1::IdentityMerge> ParseMerge(const Event& event);

// The ids `event` (already applied to `customer`) names that are not linked
// yet: its anonymousId and alias previousId, and claim node keys of the
// identifier traits of `traits_json` (the customer's traits after the
// event). Each is added to customer.identity.linked, so it is asked once.
struct Links {
  std::vector<std::string> ids;    // link records to send (key = id)
  std::string alias_id;            // a link record asked for by an alias event ("" = none)
  std::vector<std::string> nodes;  // claim records to send (key = node)
  bool empty() const { return ids.empty() && alias_id.empty() && nodes.empty(); }
};
Links NewLinks(const Options& options, const Event& event, v1::CustomerState& customer);

// The records, for the outbox. `now` stamps them; ids are deterministic.
v1::OutboxRecord LinkRecord(std::string_view topic, std::string_view key, const Request& request,
                            TimestampMs now);
v1::OutboxRecord ClaimRecord(std::string_view topic, std::string_view node, const Request& request,
                             TimestampMs now);
v1::OutboxRecord MergeRecord(std::string_view topic, const v1::IdentityMerge& merge,
                             TimestampMs now);
// `event` re-keyed to `to` (its userId, or for an anonymous event its
// anonymousId, becomes `to`), with its messageId, or `fallback_id` when it
// had none, and context.cairn.forwarded_from naming the old id.
v1::OutboxRecord ForwardRecord(std::string_view topic, const Event& event, std::string_view to,
                               std::string_view fallback_id);

// What a claim node decides when `claim` arrives. The node's record keeps
// the owner in identity.forwarded_to and its identified flag.
struct ClaimDecision {
  bool changed = false;  // the node's owner changed (write the record)
  std::string loser;     // a link to send: key loser ...
  std::string winner;    // ... into winner
  bool winner_identified = false;
  std::string refused;  // why two owners were not merged ("" = not refused)
};
ClaimDecision DecideClaim(const Options& options, v1::CustomerState& node, const Request& claim);

// Whether `target` may be merged into the requester. "" = yes, else why not.
std::string RefuseLink(const Options& options, const v1::CustomerState& target,
                       const Request& request);

// Folds `from` (a whole customer record) into `into` by the merge rules,
// except the profile (engine/profile merges computed values) and timers
// (the journey runtime re-arms the moved instances). Instance ids of moved
// instances are renumbered after the survivor's; their deferred sends follow.
struct FoldResult {
  std::vector<int> moved;                 // indices into into.instances()
  std::vector<std::string> deduplicated;  // journeys whose instance from `from` was dropped
};
FoldResult Fold(const Options& options, const v1::CustomerState& from, v1::CustomerState& into);

// Leaves `customer` as a forward pointer to `to`: only its id, dedup window,
// trace seq, identified flag and the pointer stay.
void BecomePointer(v1::CustomerState& customer, std::string_view to);

}  // namespace cairn::identity
