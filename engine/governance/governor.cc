#include "governance/governor.h"

#include <date/tz.h>
#include <fmt/format.h>
#include <openssl/sha.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <vector>

#include "cairn/fnv1a.h"
#include "cairn/time.h"

namespace cairn::governance {
namespace {

namespace chr = std::chrono;
using Ms = chr::milliseconds;

std::string Hhmm(int minute) { return fmt::format("{:02}:{:02}", minute / 60, minute % 60); }

std::string CapText(const Cap& c) {
  return fmt::format("{} marketing message{} in {} ({})", c.max, c.max == 1 ? "" : "s",
                     FormatDurationMs(c.per_ms), c.channel.empty() ? "any channel" : c.channel);
}

uint64_t Mix(uint64_t x) {  // splitmix64 finaliser
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

const date::time_zone* Zone(std::string_view tz) {
  try {
    return date::locate_zone(tz);
  } catch (const std::exception&) {
    return date::locate_zone("UTC");
  }
}

bool Applies(const QuietHours& q, std::string_view channel) {
  return q.channels.empty() ||
         std::find(q.channels.begin(), q.channels.end(), channel) != q.channels.end();
}

bool Inside(const QuietHours& q, int minute) {
  return q.from_minute < q.to_minute ? (minute >= q.from_minute && minute < q.to_minute)
                                     : (minute >= q.from_minute || minute < q.to_minute);
}

int LocalMinute(const date::time_zone* z, TimestampMs at) {
  const auto local = z->to_local(date::sys_time<Ms>(Ms(at)));
  const auto since_midnight = local - date::floor<date::days>(local);
  return static_cast<int>(chr::duration_cast<chr::minutes>(since_midnight).count());
}

// The first instant > at whose local time of day is `minute` (on a DST gap,
// the instant the clock jumps; on a repeated hour, the first pass).
TimestampMs NextLocal(const date::time_zone* z, TimestampMs at, int minute) {
  const auto local = z->to_local(date::sys_time<Ms>(Ms(at)));
  const auto day = date::floor<date::days>(local);
  for (int k = 0; k <= 3; ++k) {
    const date::local_time<Ms> want = day + date::days(k) + chr::minutes(minute);
    // On a repeated hour the first pass, or the second when the first is gone.
    for (auto choose : {date::choose::earliest, date::choose::latest}) {
      const auto sys = z->to_sys(want, choose);
      const TimestampMs ms = chr::duration_cast<Ms>(sys.time_since_epoch()).count();
      if (ms > at) return ms;
    }
  }
  return at + 24LL * 3600 * 1000;  // unreachable for real zones
}

std::string Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

// A deferred send is live while its instance still waits at that step.
bool Live(const v1::CustomerState& c, const v1::DeferredSend& d) {
  for (const auto& inst : c.instances()) {
    if (inst.journey() == d.journey() && inst.id() == d.instance()) {
      return !inst.done() && inst.step_id() == d.step() && inst.iteration() == d.iteration();
    }
  }
  return false;
}

bool Same(const v1::DeferredSend& d, const SendRequest& s) {
  return d.journey() == s.journey && d.instance() == s.instance && d.step() == s.step &&
         d.iteration() == s.iteration;
}

const v1::DeferredSend* FindDeferred(const v1::CustomerState& c, const SendRequest& s) {
  for (const auto& d : c.deferred()) {
    if (Same(d, s)) return &d;
  }
  return nullptr;
}

bool CapCovers(const Cap& cap, std::string_view channel) {
  return cap.channel.empty() || cap.channel == channel;
}

Decision Skip(Reason r, std::string text) {
  return Decision{Verdict::kSkip, 0, r, std::move(text)};
}

}  // namespace

std::string_view ReasonName(Reason r) {
  static constexpr std::array<std::string_view, kReasons> kNames = {
      "none", "suppression", "holdout", "quiet_hours", "frequency_cap", "priority", "max_deferral"};
  return kNames[static_cast<size_t>(r)];
}

std::string Sha256Hex(std::string_view data) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), md);
  std::string out;
  out.reserve(2 * SHA256_DIGEST_LENGTH);
  for (unsigned char b : md) out += fmt::format("{:02x}", b);
  return out;
}

std::string HashEmail(std::string_view email) {
  std::string e = Trim(email);
  std::transform(e.begin(), e.end(), e.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return Sha256Hex(e);
}

std::string HashPhone(std::string_view phone) {
  std::string p;
  for (char c : phone) {
    if ((c >= '0' && c <= '9') || (c == '+' && p.empty())) p += c;
  }
  return Sha256Hex(p);
}

std::string HashId(std::string_view customer_id) { return Sha256Hex(customer_id); }

bool InHoldout(const Policy& policy, std::string_view customer_id) {
  if (policy.holdout.basis_points == 0) return false;
  const uint64_t h = Mix(Fnv1a64(policy.holdout.salt + '\x1f' + std::string(customer_id)));
  return h % 10000 < policy.holdout.basis_points;
}

bool InQuietHours(const Policy& policy, std::string_view channel, std::string_view tz,
                  TimestampMs at) {
  if (policy.quiet_hours.empty()) return false;
  const date::time_zone* z = Zone(tz);
  const int minute = LocalMinute(z, at);
  for (const auto& q : policy.quiet_hours) {
    if (Applies(q, channel) && Inside(q, minute)) return true;
  }
  return false;
}

TimestampMs QuietHoursEnd(const Policy& policy, std::string_view channel, std::string_view tz,
                          TimestampMs at) {
  if (policy.quiet_hours.empty()) return at;
  const date::time_zone* z = Zone(tz);
  // Windows may overlap or repeat (a fall-back night): step to each one's end
  // until outside all of them; bounded.
  for (int n = 0; n < 16; ++n) {
    const int minute = LocalMinute(z, at);
    const QuietHours* in = nullptr;
    for (const auto& q : policy.quiet_hours) {
      if (Applies(q, channel) && Inside(q, minute)) {
        in = &q;
        break;
      }
    }
    if (in == nullptr) return at;
    at = NextLocal(z, at, in->to_minute);
  }
  return at;
}

std::string ZoneOf(const Policy& policy, const v1::CustomerState& customer) {
  if (customer.traits_json().find("timezone") != std::string::npos) {
    auto traits = nlohmann::json::parse(customer.traits_json(), nullptr, false);
    if (traits.is_object()) {
      auto it = traits.find("timezone");
      if (it != traits.end() && it->is_string()) {
        const std::string tz = it->get<std::string>();
        try {
          (void)date::locate_zone(tz);
          return tz;
        } catch (const std::exception&) {
        }
      }
    }
  }
  return policy.timezone;
}

Decision Decide(const Policy& policy, const v1::CustomerState& c, const SendRequest& s,
                TimestampMs now) {
  // 1. Suppression: every message, transactional ones too.
  if (!policy.suppressed->empty()) {
    const auto& list = *policy.suppressed;
    if (list.count(HashId(c.id())) != 0) {
      return Skip(Reason::kSuppressed, "suppressed: customer id on the suppression list");
    }
    auto traits =
        nlohmann::json::parse(c.traits_json().empty() ? "{}" : c.traits_json(), nullptr, false);
    if (traits.is_object()) {
      if (auto it = traits.find("email"); it != traits.end() && it->is_string() &&
                                          list.count(HashEmail(it->get<std::string>())) != 0) {
        return Skip(Reason::kSuppressed, "suppressed: e-mail address on the suppression list");
      }
      if (auto it = traits.find("phone"); it != traits.end() && it->is_string() &&
                                          list.count(HashPhone(it->get<std::string>())) != 0) {
        return Skip(Reason::kSuppressed, "suppressed: phone number on the suppression list");
      }
    }
  }
  // 2. Transactional messages pass the rest.
  if (s.transactional) return Decision{};
  // 3. Global holdout.
  if (InHoldout(policy, c.id())) {
    return Skip(Reason::kHoldout,
                fmt::format("global holdout ({}% control group, salt '{}'): no marketing",
                            policy.holdout.basis_points / 100.0, policy.holdout.salt));
  }
  // 4. Quiet hours in the customer's zone: wait for the window's end.
  if (!policy.quiet_hours.empty()) {
    const std::string tz = ZoneOf(policy, c);
    const TimestampMs end = QuietHoursEnd(policy, s.channel, tz, now);
    if (end > now) {
      const date::time_zone* z = Zone(tz);
      const int minute = LocalMinute(z, now);
      std::string window;
      for (const auto& q : policy.quiet_hours) {
        if (Applies(q, s.channel) && Inside(q, minute)) {
          window = Hhmm(q.from_minute) + "-" + Hhmm(q.to_minute);
          break;
        }
      }
      return Decision{
          Verdict::kDefer, end, Reason::kQuietHours,
          fmt::format("quiet hours {} {}: deferred to {}", window, tz, FormatTimestamp(end))};
    }
  }
  // 5. Frequency caps, with slots kept for pending higher-priority sends.
  if (policy.caps.empty()) return Decision{};
  const v1::DeferredSend* self = FindDeferred(c, s);
  const TimestampMs since = self != nullptr ? self->since_ms() : now;
  const int64_t max_deferral = s.max_deferral_ms > 0 ? s.max_deferral_ms : policy.max_deferral_ms;
  Decision capped;
  for (const auto& cap : policy.caps) {
    if (!CapCovers(cap, s.channel)) continue;
    std::vector<TimestampMs> in_window;
    for (const auto& r : c.sent()) {
      if (CapCovers(cap, r.channel()) && r.at_ms() > now - cap.per_ms) {
        in_window.push_back(r.at_ms());
      }
    }
    const size_t used = in_window.size();
    if (used >= cap.max) {
      std::sort(in_window.begin(), in_window.end());
      const TimestampMs free_at =
          cap.max == 0 ? now + cap.per_ms : in_window[used - cap.max] + cap.per_ms;
      if (capped.verdict != Verdict::kDefer || free_at > capped.until) {
        capped = Decision{Verdict::kDefer, std::max(free_at, now + 1), Reason::kFrequencyCap,
                          fmt::format("frequency cap: {}", CapText(cap))};
      }
      continue;
    }
    // Pending (deferred, still live) higher-priority marketing sends this cap
    // covers each keep one of the remaining slots.
    size_t kept = 0;
    const v1::DeferredSend* first = nullptr;
    for (const auto& d : c.deferred()) {
      if (!d.marketing() || d.priority() <= s.priority || Same(d, s) ||
          !CapCovers(cap, d.channel()) || !Live(c, d)) {
        continue;
      }
      ++kept;
      if (first == nullptr || d.due_ms() < first->due_ms() ||
          (d.due_ms() == first->due_ms() && d.priority() > first->priority())) {
        first = &d;
      }
    }
    if (used + kept >= cap.max && first != nullptr) {
      const TimestampMs wake = std::max(first->due_ms(), now) + 1;
      if (capped.verdict != Verdict::kDefer || wake > capped.until) {
        capped = Decision{
            Verdict::kDefer, wake, Reason::kPriority,
            fmt::format("priority arbitration: {} of {} left for {} pending higher-priority "
                        "send{} (journey '{}', priority {})",
                        cap.max - used, CapText(cap), kept, kept == 1 ? "" : "s", first->journey(),
                        first->priority())};
      }
    }
  }
  if (capped.verdict != Verdict::kDefer) return Decision{};
  if (s.on_cap == journey::OnCap::kSkip) {
    capped.verdict = Verdict::kSkip;
    capped.text += " (on_cap: skip)";
    capped.until = 0;
    return capped;
  }
  if (capped.until - since > max_deferral) {
    return Skip(Reason::kMaxDeferral,
                fmt::format("{}; would wait past max_deferral {} (first due {})", capped.text,
                            FormatDurationMs(max_deferral), FormatTimestamp(since)));
  }
  capped.text += ": deferred to " + FormatTimestamp(capped.until);
  return capped;
}

void Apply(const Policy& policy, v1::CustomerState& c, const SendRequest& s, const Decision& d,
           TimestampMs now) {
  // Forget send records no cap window reaches (records "in the future" after
  // the clock went back stay) and deferred sends whose instance moved on.
  const int64_t keep = policy.longest_window_ms();
  auto* sent = c.mutable_sent();
  sent->erase(std::remove_if(sent->begin(), sent->end(),
                             [&](const v1::SendRecord& r) { return r.at_ms() <= now - keep; }),
              sent->end());
  auto* deferred = c.mutable_deferred();
  for (int i = deferred->size() - 1; i >= 0; --i) {
    const auto& x = deferred->Get(i);
    if (Same(x, s) ? d.verdict != Verdict::kDefer : !Live(c, x)) deferred->DeleteSubrange(i, 1);
  }
  if (d.verdict == Verdict::kSend) {
    if (!s.transactional && keep > 0) {
      auto* r = c.add_sent();
      r->set_at_ms(now);
      r->set_channel(std::string(s.channel));
      r->set_journey(std::string(s.journey));
      r->set_priority(s.priority);
    }
    return;
  }
  if (d.verdict != Verdict::kDefer) return;
  v1::DeferredSend* x = nullptr;
  for (auto& e : *deferred) {
    if (Same(e, s)) x = &e;
  }
  if (x == nullptr) {
    x = c.add_deferred();
    x->set_journey(std::string(s.journey));
    x->set_instance(s.instance);
    x->set_step(std::string(s.step));
    x->set_iteration(s.iteration);
    x->set_since_ms(now);
  }
  x->set_channel(std::string(s.channel));
  x->set_priority(s.priority);
  x->set_marketing(!s.transactional);
  x->set_due_ms(d.until);
}

void Counters::Count(const Decision& d) {
  const auto i = static_cast<size_t>(d.reason);
  if (d.verdict == Verdict::kDefer) deferred[i]++;
  if (d.verdict == Verdict::kSkip) skipped[i]++;
}

std::map<std::string, uint64_t> Counters::Snapshot() const {
  std::map<std::string, uint64_t> out;
  for (size_t i = 1; i < kReasons; ++i) {
    const std::string name(ReasonName(static_cast<Reason>(i)));
    if (const uint64_t n = deferred[i].load()) out["deferred." + name] = n;
    if (const uint64_t n = skipped[i].load()) out["skipped." + name] = n;
  }
  return out;
}

}  // namespace cairn::governance
