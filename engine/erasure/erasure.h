// GDPR erasure of one customer (DELETE /v1/customers/{id}, docs/api-journeys-customers.md).
//
// The API thread never writes customer state. It produces a CONTROL EVENT
// keyed by the customer id to the events topic; the ingest thread that owns
// the partition erases the customer in the WriteBatch of that message, with
// its checkpoint, so a crash either erased and moved past it, or did neither
// and replays it (erasing is idempotent).
//
// The control event is a Segment track event "Customer Erased" whose meaning
// comes only from its headers, signed with the engine's secret:
//   cairn.control      "erase"
//   cairn.erasure.id   the erasure id the API answered with
//   cairn.erasure.at   the erasure time, ms since the epoch (decimal)
//   cairn.erasure.sig  hex HMAC-SHA256(secret, "erase\n" id "\n" erasure id "\n" at)
// A client writing to the public topic cannot forge one without the secret:
// a message with cairn.control and a bad signature is dropped and counted,
// an ordinary "Customer Erased" event without the headers is just an event.
//
// What Erase() removes, in the batch: the customer record, their history and
// decision-trace rings, their pending timers, their segment memberships (sm/)
// and their share of the live segment/stage/RFM counts; it scrubs the PII of
// the dispatch ledger rows of the sends in their trace (customer id, attempt
// details; task id, state, channel and times are kept for accounting), and
// writes the tombstone
//   default CF  "gd/" hex(SHA-256(secret "\0" id)) -> erasure time (u64 BE ms)
// Later events for the id with a timestamp <= the erasure time are dropped
// (counted); newer ones start a new customer.
//
// The secret: the tracking key file when one is configured (shared by every
// instance, which matters because the API of one instance may sign what
// another consumes), else 32 random bytes generated once and kept in RocksDB
// at "gd/!secret" (one-instance setups).
//
// Thread-safety: the free functions keep no state; Erase() runs on the
// ingest thread (it uses the TimerStore).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cairn/clock.h"
#include "cairn/status.h"
#include "cairn/v1/state.pb.h"
#include "state/state_store.h"
#include "timer/timer_store.h"

namespace cairn::erasure {

inline constexpr std::string_view kControlHeader = "cairn.control";
inline constexpr std::string_view kControlErase = "erase";
inline constexpr std::string_view kIdHeader = "cairn.erasure.id";
inline constexpr std::string_view kAtHeader = "cairn.erasure.at";
inline constexpr std::string_view kSignatureHeader = "cairn.erasure.sig";
inline constexpr std::string_view kErasedEvent = "Customer Erased";

struct Request {
  std::string customer_id;
  std::string erasure_id;
  TimestampMs at_ms = 0;
};

// The secret (see above). key_file empty: the one in RocksDB, created on
// first use (synced write). A key file shorter than 16 bytes is an error.
Result<std::string> LoadSecret(state::StateStore& store, const std::string& key_file);

// A fresh random erasure id (32 hex digits).
std::string NewErasureId();

std::string Signature(std::string_view secret, const Request& request);

// The control message: key = customer id, a Segment JSON payload, headers.
struct Message {
  std::string key;
  std::string payload;
  std::vector<std::pair<std::string, std::string>> headers;
};
Message ControlMessage(std::string_view secret, const Request& request);

enum class Control { kNone, kErase, kForged };
// What a parsed message's headers say. kErase fills `out` (customer id =
// the event's). Any cairn.control header without a valid signature: kForged.
Control Inspect(std::string_view secret,
                const std::vector<std::pair<std::string_view, std::string_view>>& headers,
                std::string_view customer_id, Request& out);

std::string TombstoneKey(std::string_view secret, std::string_view customer_id);
// The erasure time of `customer_id`, or nullopt when never erased. Any thread.
std::optional<TimestampMs> ReadTombstone(state::StateStore& store, std::string_view secret,
                                         std::string_view customer_id);

struct Erased {
  bool had_record = false;
  uint64_t timers = 0;
  uint64_t ledger_rows = 0;
  uint64_t segments = 0;
};
// Puts the whole erasure of `request.customer_id` on `partition` into
// `batch`. `record` is the customer's record as the engine holds it (null
// when there is none); `stats` the partition's live profile counts (changed
// in place). Reads the trace ring and ledger from `store`.
Result<Erased> Erase(state::StateStore::Batch& batch, state::StateStore& store,
                     timer::TimerStore& timers, int32_t partition, const Request& request,
                     const v1::CustomerState* record, v1::ProfileStats* stats,
                     std::string_view secret);

}  // namespace cairn::erasure
