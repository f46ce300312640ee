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
    const auto& city = kCities[static_cast<size_t>(Pick(kCities.size()))];
    json traits = {{"email", user + "@example.com"},
                   {"name", kFirstNames[static_cast<size_t>(Pick(kFirstNames.size()))]},
                   {"city", city},
                   {"age", 18 + Pick(50)},
                   {"plan", U() < 0.2 ? "member" : "guest"}};
    Emit(user, t,
         {{"type", "identify"}, {"userId", user}, {"anonymousId", anon}, {"traits", traits}});
    Emit(user, t + 1000, Track(user, "Signed Up", {{"method", U() < 0.5 ? "email" : "social"}}));

    // Engagement: heavy buyers, regulars, and people who fall asleep.
    const double activity = U();
    const int sessions = activity < 0.15  ? 25 + Pick(30)
                         : activity < 0.6 ? 6 + Pick(12)
                                          : 1 + Pick(4);
    int coupon = 0;
    for (int s = 0; s < sessions && t < o_.start_ms + span; ++s) {
      t += static_cast<TimestampMs>(3600000.0 * (2 + U() * 24 * (activity < 0.15 ? 3 : 9)));
      Session(user, t, s, coupon);
    }
  }

  void Session(const std::string& user, TimestampMs& t, int s, int& coupon) {
    for (int i = 0, n = 1 + Pick(4); i < n; ++i) {
      Page(user, false, t);
      t += 20000 + Pick(120000);
    }
    const auto& prod = kProducts[static_cast<size_t>(Pick(kProducts.size()))];
    Emit(user, t,
         Track(user, "Product Viewed", {{"product_id", prod.first}, {"price", prod.second}}));
    if (U() < 0.5) return;
    const std::string cart = fmt::format("cart-{}-{}", user, s);
    const int qty = 1 + Pick(3);
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
      props["coupon"] = fmt::format("WELCOME-{}", coupon);
      Emit(user, t,
           Track(user, "Coupon Redeemed", {{"coupon", props["coupon"]}, {"discount", 10}}));
      coupon = 0;
    }
    Emit(user, t + 500, Track(user, "Order Completed", props));
    s_.orders++;
    s_.revenue += total;
    if (coupon == 0 && U() < 0.3) {
      coupon = 1 + Pick(1000);
      Emit(user, t + 86400000,
           Track(user, "Coupon Issued",
                 {{"coupon", fmt::format("WELCOME-{}", coupon)},
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
