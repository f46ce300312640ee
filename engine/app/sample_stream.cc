#include "app/sample_stream.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <nlohmann/json.hpp>
#include <random>

#include "cairn/time.h"

namespace cairn::app {
namespace {

using nlohmann::json;

constexpr std::array kCities = {"Shanghai", "Beijing", "Shenzhen", "Hangzhou", "Chengdu",
                                "Berlin",   "Lyon",    "Austin",   "Osaka",    "Porto"};
constexpr std::array kZones = {"Asia/Shanghai", "Asia/Shanghai", "Asia/Shanghai", "Asia/Shanghai",
                               "Asia/Shanghai", "Europe/Berlin", "Europe/Paris",  "America/Chicago",
                               "Asia/Tokyo",    "Europe/Lisbon"};
constexpr std::array kFirstNames = {"Li",    "Wei", "Mei",  "Anna",  "Lukas", "Sofia",
                                    "Kenji", "Ana", "Noah", "Chloe", "Ravi",  "Yuki"};
constexpr std::array kProducts = {std::pair{"sku-espresso", 899.0}, std::pair{"sku-grinder", 249.0},
                                  std::pair{"sku-beans-1kg", 32.5}, std::pair{"sku-mug", 12.0},
                                  std::pair{"sku-kettle", 79.0},    std::pair{"sku-scale", 45.0},
                                  std::pair{"sku-filter-100", 6.5}, std::pair{"sku-tamper", 29.0}};
constexpr std::array kPages = {"/", "/coffee", "/machines", "/deals", "/account", "/blog"};

struct Timed {
  TimestampMs at;
  uint64_t order;  // generation order, to keep one customer's events stable
  SampleRecord record;
};

class Generator {
 public:
  Generator(const SampleOptions& o, SampleSummary& s) : o_(o), s_(s), rng_(o.seed) {}

  std::vector<SampleRecord> Run() {
    for (int c = 0; c < o_.customers; ++c) Customer(c);
    std::stable_sort(out_.begin(), out_.end(),
                     [](const Timed& a, const Timed& b) { return a.at < b.at; });
    std::vector<SampleRecord> records;
    records.reserve(out_.size());
    for (auto& t : out_) records.push_back(std::move(t.record));
    s_.records = records.size();
    return records;
  }

 private:
  double U() { return std::uniform_real_distribution<double>(0, 1)(rng_); }
  int Pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }

  void Customer(int c) {
    const std::string user = fmt::format("user-{:05d}", c);
    const std::string anon = fmt::format("anon-{:08x}", static_cast<uint32_t>(rng_()));
    const TimestampMs span = static_cast<TimestampMs>(o_.days) * 86400000;
    TimestampMs t = o_.start_ms + static_cast<TimestampMs>(U() * 0.6 * static_cast<double>(span));
    // Visits anonymously first, then signs up.
    for (int i = 0, n = 1 + Pick(3); i < n; ++i) {
      Page(anon, true, t);
      t += 60000 + Pick(600000);
    }
    const auto city_index = static_cast<size_t>(Pick(kCities.size()));
    const bool member = U() < 0.2;
    // Engagement: heavy buyers, regulars, and people who fall asleep; a few
    // VIPs who buy in bulk, some of whom stop buying (winback material).
    const double activity = U();
    const bool vip = activity < 0.05;
    json traits = {{"email", user + "@example.com"},
                   {"name", kFirstNames[static_cast<size_t>(Pick(kFirstNames.size()))]},
                   {"city", kCities[city_index]},
                   {"timezone", kZones[city_index]},
                   {"age", 18 + Pick(50)},
                   {"plan", member ? "member" : "guest"},
                   {"consent", {{"email", U() < 0.93}, {"sms", U() < 0.4}, {"push", U() < 0.6}}}};
    // Most give a mobile number; app users have a device token (push).
    if (U() < 0.8) traits["phone"] = "+4915" + std::to_string(100000000 + Pick(899999999));
    if (U() < 0.7)
      traits["push_tokens"] = json::array({"fcm-" + user + "-" + std::to_string(Pick(1000))});
    if (member) {
      // Joined the loyalty programme some time in the previous years.
      traits["member_since"] =
          FormatTimestamp(t - static_cast<TimestampMs>((30 + Pick(1000)) * 86400000LL))
              .substr(0, 10);
      if (vip || activity < 0.15) traits["rfm_segment"] = "prime";
    }
    Emit(user, t,
         {{"type", "identify"}, {"userId", user}, {"anonymousId", anon}, {"traits", traits}});
    Emit(user, t + 1000, Track(user, "Signed Up", {{"method", U() < 0.5 ? "email" : "social"}}));

    const int sessions = activity < 0.15  ? 25 + Pick(30)
                         : activity < 0.6 ? 6 + Pick(12)
                                          : 1 + Pick(4);
    // Some stop early: their last order is months before the stream ends.
    const TimestampMs stop_at = o_.start_ms + (U() < 0.4 ? span * 2 / 5 : span);
    int coupon = 0;
    TimestampMs last_order = 0;
    for (int s = 0; s < sessions && t < stop_at; ++s) {
      t += static_cast<TimestampMs>(3600000.0 * (2 + U() * 24 * (activity < 0.15 ? 3 : 9)));
      Session(user, t, s, coupon, vip, last_order);
    }
    // Customers gone quiet for 60 days become at-risk: the lifecycle stage
    // machine (journeys/profile/customers.yaml) emits that, not the stream.
    (void)last_order;
  }

  void Session(const std::string& user, TimestampMs& t, int s, int& coupon, bool vip,
               TimestampMs& last_order) {
    for (int i = 0, n = 1 + Pick(4); i < n; ++i) {
      Page(user, false, t);
      t += 20000 + Pick(120000);
    }
    const auto& prod = kProducts[static_cast<size_t>(Pick(kProducts.size()))];
    Emit(user, t,
         Track(user, "Product Viewed", {{"product_id", prod.first}, {"price", prod.second}}));
    if (U() < 0.5) return;
    const std::string cart = fmt::format("cart-{}-{}", user, s);
    const int qty = vip ? 4 + Pick(12) : 1 + Pick(3);
    t += 30000 + Pick(300000);
    Emit(user, t,
         Track(user, "Product Added",
               {{"cart_id", cart},
                {"product_id", prod.first},
                {"price", prod.second},
                {"quantity", qty}}));
    if (U() < 0.35) return;  // cart abandoned
    t += 60000 + Pick(600000);
    const double total = prod.second * qty;
    Emit(user, t, Track(user, "Checkout Started", {{"cart_id", cart}, {"total", total}}));
    if (U() < 0.2) return;  // order placed but not paid
    t += 30000 + Pick(120000);
    const std::string order = fmt::format("order-{}-{}", user, s);
    json props = {{"order_id", order},
                  {"cart_id", cart},
                  {"total", total},
                  {"currency", "USD"},
                  {"quantity", qty}};
    if (coupon > 0 && U() < 0.5) {
      props["coupon_id"] = fmt::format("WELCOME-{}", coupon);
      Emit(user, t,
           Track(user, "Coupon Applied", {{"coupon_id", props["coupon_id"]}, {"discount", 10}}));
      coupon = 0;
    }
    Emit(user, t + 500, Track(user, "Order Completed", props));
    last_order = t + 500;
    s_.orders++;
    s_.revenue += total;
    if (coupon == 0 && U() < 0.3) {
      coupon = 1 + Pick(1000);
      Emit(user, t + 86400000,
           Track(user, "Coupon Issued",
                 {{"coupon_id", fmt::format("WELCOME-{}", coupon)},
                  {"discount", 10},
                  {"valid_days", 30}}));
    }
  }

  void Page(const std::string& id, bool anonymous, TimestampMs t) {
    json e = {{"type", "page"},
              {"name", "Catalog"},
              {"properties", {{"path", kPages[static_cast<size_t>(Pick(kPages.size()))]}}},
              {"context", {{"userAgent", "Mozilla/5.0"}, {"locale", "en-US"}}}};
    e[anonymous ? "anonymousId" : "userId"] = id;
    Emit(id, t, std::move(e));
  }

  static json Track(const std::string& user, const char* name, json props) {
    return {{"type", "track"}, {"userId", user}, {"event", name}, {"properties", std::move(props)}};
  }

  void Emit(const std::string& key, TimestampMs at, json event) {
    const std::string message_id = fmt::format("msg-{:016x}", static_cast<uint64_t>(rng_()));
    SampleRecord r;
    r.key = key;
    if (event["type"] == "track" && U() < o_.cloudevents_share) {
      // CloudEvents binary mode: attributes in headers, data in the value.
      r.headers = {{"ce_specversion", "1.0"},           {"ce_type", event["event"]},
                   {"ce_source", "/shop/web"},          {"ce_id", message_id},
                   {"ce_time", FormatTimestamp(at)},    {"ce_userid", key},
                   {"content-type", "application/json"}};
      r.value = event["properties"].dump();
    } else {
      event["messageId"] = message_id;
      event["timestamp"] = FormatTimestamp(at);
      r.value = event.dump();
    }
    if (U() < o_.malformed_share) Corrupt(r);
    const bool retry = !r.malformed && U() < o_.retry_share;
    out_.push_back({at, seq_++, r});
    if (retry) {
      r.retry = true;
      s_.retries++;
      out_.push_back({at, seq_++, std::move(r)});
    }
  }

  // Breaks a record the way real producers do.
  void Corrupt(SampleRecord& r) {
    r.malformed = true;
    r.headers.clear();
    s_.malformed++;
    switch (Pick(4)) {
      case 0:
        r.value = r.value.substr(0, r.value.size() / 2);
        break;  // truncated JSON
      case 1:
        r.value = R"({"type":"track","event":"Order Completed","properties":{}})";
        break;
      case 2:
        r.value = R"({"type":"track","userId":")" + r.key +
                  R"(","event":"Product Viewed","timestamp":"last tuesday"})";
        break;
      default:
        r.value = R"({"type":"telemetry","userId":")" + r.key + R"("})";
        break;
    }
  }

  const SampleOptions& o_;
  SampleSummary& s_;
  std::mt19937_64 rng_;
  std::vector<Timed> out_;
  uint64_t seq_ = 0;
};

}  // namespace

std::vector<SampleRecord> GenerateSample(const SampleOptions& options, SampleSummary* summary) {
  SampleSummary local;
  Generator g(options, summary != nullptr ? *summary : local);
  return g.Run();
}

}  // namespace cairn::app
