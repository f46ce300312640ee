#include "erasure/erasure.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <charconv>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "cairn/big_endian.h"
#include "cairn/time.h"
#include "dispatch/dispatcher.h"
#include "profile/profile_store.h"
#include "profile/profiler.h"

namespace cairn::erasure {
namespace {

constexpr std::string_view kSecretKey = "gd/!secret";
constexpr size_t kMinSecretBytes = 16;

std::string Hex(const unsigned char* p, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(kDigits[p[i] >> 4]);
    out.push_back(kDigits[p[i] & 15]);
  }
  return out;
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

Result<std::string> LoadSecret(state::StateStore& store, const std::string& key_file) {
  if (!key_file.empty()) {
    std::ifstream in(key_file, std::ios::binary);
    if (!in) return InvalidArgument("erasure secret: cannot read " + key_file);
    std::ostringstream ss;
    ss << in.rdbuf();
    std::string key = Trim(ss.str());
    if (key.size() < kMinSecretBytes) {
      return InvalidArgument("erasure secret: " + key_file + " holds fewer than 16 bytes");
    }
    return key;
  }
  std::string value;
  auto s = store.db()->Get(rocksdb::ReadOptions(), store.meta_cf(), kSecretKey, &value);
  if (s.ok() && value.size() >= kMinSecretBytes) return value;
  if (!s.ok() && !s.IsNotFound()) return Unavailable("erasure secret: " + s.ToString());
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof bytes) != 1) return Internal("erasure secret: no randomness");
  value.assign(reinterpret_cast<const char*>(bytes), sizeof bytes);
  rocksdb::WriteOptions wo;
  wo.sync = true;
  s = store.db()->Put(wo, store.meta_cf(), kSecretKey, value);
  if (!s.ok()) return Unavailable("erasure secret: " + s.ToString());
  return value;
}

std::string NewErasureId() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) {
    // No CSPRNG: still unique enough for an id (it is not a secret).
    const auto t = static_cast<uint64_t>(SystemClock::Instance().NowMs());
    for (size_t i = 0; i < sizeof bytes; ++i) bytes[i] = static_cast<unsigned char>(t >> (i % 8));
  }
  return Hex(bytes, sizeof bytes);
}

std::string Signature(std::string_view secret, const Request& request) {
  std::string text(kControlErase);
  text += '\n';
  text += request.customer_id;
  text += '\n';
  text += request.erasure_id;
  text += '\n';
  text += std::to_string(request.at_ms);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(text.data()), text.size(), mac, &len);
  return Hex(mac, len);
}

Message ControlMessage(std::string_view secret, const Request& request) {
  Message m;
  m.key = request.customer_id;
  const nlohmann::json payload = {{"type", "track"},
                                  {"event", kErasedEvent},
                                  {"userId", request.customer_id},
                                  {"messageId", "erasure-" + request.erasure_id},
                                  {"timestamp", FormatTimestamp(request.at_ms)},
                                  {"properties", {{"erasure_id", request.erasure_id}}}};
  m.payload = payload.dump();
  m.headers = {{"content-type", "application/json"},
               {std::string(kControlHeader), std::string(kControlErase)},
               {std::string(kIdHeader), request.erasure_id},
               {std::string(kAtHeader), std::to_string(request.at_ms)},
               {std::string(kSignatureHeader), Signature(secret, request)}};
  return m;
}

Control Inspect(std::string_view secret,
                const std::vector<std::pair<std::string_view, std::string_view>>& headers,
                std::string_view customer_id, Request& out) {
  std::optional<std::string_view> control, id, at, sig;
  for (const auto& [k, v] : headers) {
    if (k == kControlHeader) control = v;
    if (k == kIdHeader) id = v;
    if (k == kAtHeader) at = v;
    if (k == kSignatureHeader) sig = v;
  }
  if (!control) return Control::kNone;
  if (*control != kControlErase || !id || !at || !sig || id->empty() || id->size() > 128 ||
      customer_id.empty()) {
    return Control::kForged;
  }
  TimestampMs at_ms = 0;
  const auto [end, ec] = std::from_chars(at->data(), at->data() + at->size(), at_ms);
  if (ec != std::errc() || end != at->data() + at->size()) return Control::kForged;
  Request r{std::string(customer_id), std::string(*id), at_ms};
  const std::string want = Signature(secret, r);
  if (sig->size() != want.size() || CRYPTO_memcmp(sig->data(), want.data(), want.size()) != 0) {
    return Control::kForged;
  }
  out = std::move(r);
  return Control::kErase;
}

std::string TombstoneKey(std::string_view secret, std::string_view customer_id) {
  std::string text(secret);
  text.push_back('\0');
  text.append(customer_id);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(text.data(), text.size(), digest, &len, EVP_sha256(), nullptr);
  return "gd/" + Hex(digest, len);
}

std::optional<TimestampMs> ReadTombstone(state::StateStore& store, std::string_view secret,
                                         std::string_view customer_id) {
  std::string value;
  auto s = store.db()->Get(rocksdb::ReadOptions(), store.meta_cf(),
                           TombstoneKey(secret, customer_id), &value);
  if (!s.ok() || value.size() != 8) return std::nullopt;
  return static_cast<TimestampMs>(GetU64BE(value.data()));
}

Result<Erased> Erase(state::StateStore::Batch& batch, state::StateStore& store,
                     timer::TimerStore& timers, int32_t partition, const Request& request,
                     const v1::CustomerState* record, v1::ProfileStats* stats,
                     std::string_view secret) {
  Erased out;
  const std::string& id = request.customer_id;
  // The ledger rows to scrub: the sends in the decision trace (read before
  // the ring goes).
  std::set<std::string> task_ids;
  auto trace = store.Trace(partition, id, SIZE_MAX);
  if (!trace.ok()) return trace.status();
  for (const auto& t : *trace) {
    if (!t.task_id().empty()) task_ids.insert(t.task_id());
  }
  batch.DeleteCustomer(partition, id);  // record, history and trace rings
  auto t = timers.EraseCustomer(batch, partition, id);
  if (!t.ok()) return t.status();
  out.timers = *t;
  if (record != nullptr && record->events_total() > 0) {
    out.had_record = true;
    for (std::string_view seg : profile::SegmentNames(record->profile())) {
      profile::PutSegmentMember(batch, store.meta_cf(), seg, partition, id, false);
      ++out.segments;
    }
    if (stats != nullptr) profile::ForgetCustomer(record->profile(), *stats);
  }
  for (const auto& task_id : task_ids) {
    std::string value;
    auto s = store.db()->Get(rocksdb::ReadOptions(), store.dispatch_cf(),
                             dispatch::Dispatcher::LedgerKey(task_id), &value);
    if (s.IsNotFound()) continue;
    if (!s.ok()) return Unavailable("erase: read ledger: " + s.ToString());
    v1::LedgerEntry e;
    if (!e.ParseFromString(value)) continue;
    e.clear_customer_id();
    e.clear_reason();
    for (auto& a : *e.mutable_attempts()) a.clear_detail();
    (void)batch.raw().Put(store.dispatch_cf(), dispatch::Dispatcher::LedgerKey(task_id),
                          e.SerializeAsString());
    ++out.ledger_rows;
  }
  std::string at;
  PutU64BE(at, static_cast<uint64_t>(request.at_ms));
  (void)batch.raw().Put(store.meta_cf(), TombstoneKey(secret, id), at);
  return out;
}

}  // namespace cairn::erasure
