// The outcome loop, end to end with the real processes: a journey sends an
// email with a tracked link through smtp-sink, then waits for the `Message
// Clicked` of that send. The test reads the email the sink received, follows
// the tracked link as a mail client would (GET; 302 to the target, not
// followed), and the engine's own click event brings the journey to its
// "clicked" branch: a webhook to an HTTP peer, visible in the decision trace.
// A forged or tampered token gets a 4xx and moves nobody; that customer's
// wait times out instead. A one-click unsubscribe (RFC 8058 POST to the
// List-Unsubscribe URL of the email) sets consent.email = false, so an email
// task decided before it is `suppressed` at send time and never reaches the
// sink.
#include <gtest/gtest.h>
#include <signal.h>

#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "cairn/time.h"
#include "engine_harness.h"
#include "flow/runtime.h"
#include "http_peer.h"
#include "kafka/producer.h"
#include "smtp_sink.h"
#include "test_support.h"

namespace cairn {
namespace {

using nlohmann::json;
using testing::HttpCall;
using testing::SmtpSink;

constexpr int kPartitions = 2;
const std::string kEvents = "cairn.events";
const std::string kCartUrl = "https://shop.example/cart";

constexpr char kCartJourney[] = R"(journey: cart-click
version: 1
description: an email with a tracked link; a click takes the clicked branch
when:
  event: Product Added
who:
  consent: { email: implied, webhook: implied }
entry:
  reentry: always
  max_concurrent: 5
steps:
  - id: offer
    send: { channel: email, template: cart-offer }
  - id: wait_click
    wait_for:
      event: Message Clicked
      where: event.properties.journey == 'cart-click' && event.properties.step == 'offer'
      timeout: 8s
      on_event: clicked
      on_timeout: timed_out
  - id: timed_out
    exit: timed_out
  - id: clicked
    send: { channel: webhook, template: clicked-hook }
  - id: done
    exit: clicked
)";

constexpr char kPromoJourney[] = R"(journey: promo
version: 1
description: one email per Promo Started
when:
  event: Promo Started
who:
  consent: { email: implied }
entry:
  reentry: always
  max_concurrent: 5
steps:
  - id: promo_mail
    send: { channel: email, template: promo }
  - id: done
    exit: done
)";

constexpr char kOfferTemplate[] = R"(channel: email
subject: "Your cart is waiting, {{customer.id}}"
text: |
  Your cart is waiting: {{#track}}https://shop.example/cart{{/track}}
  Unsubscribe: {{links.unsubscribe}}
html: |
  <html><body>
  <p><a href="{{#track}}https://shop.example/cart{{/track}}">Back to your cart</a></p>
  <p><a href="{{links.unsubscribe}}">Unsubscribe</a></p>
  </body></html>
)";

constexpr char kPromoTemplate[] = R"(channel: email
subject: "A promotion for {{customer.id}}"
text: |
  Something new in the shop.
)";

constexpr char kHookTemplate[] = R"(channel: webhook
body: |
  {"customer": "{{customer.id}}", "task_id": "{{task.task_id}}", "clicked": true}
)";

std::string TaskId(const std::string& journey, const std::string& customer, uint64_t instance,
                   const std::string& step) {
  return flow::Runtime::TaskId(journey, 1, customer, instance, step, 0);
}

// Quoted-printable (RFC 2045) with LF line ends: soft breaks removed, =XX
// decoded, anything else kept as it is (so MIME boundaries "--=_..." stay).
std::string DecodeQuotedPrintable(std::string_view s) {
  auto hex = [](char c) {
    return std::isdigit(static_cast<unsigned char>(c))
               ? c - '0'
               : std::toupper(static_cast<unsigned char>(c)) - 'A' + 10;
  };
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '=' && i + 1 < s.size() && s[i + 1] == '\n') {
      ++i;
      continue;
    }
    if (s[i] == '=' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out.push_back(static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2])));
      i += 2;
      continue;
    }
    out.push_back(s[i]);
  }
  return out;
}

// base64url without padding (RFC 4648 §5), for forging tokens.
std::string B64UrlEncode(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : in) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(acc >> bits) & 63]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(acc << (6 - bits)) & 63]);
  return out;
}

std::string B64UrlDecode(std::string_view in) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = c >= 'A' && c <= 'Z'   ? c - 'A'
            : c >= 'a' && c <= 'z' ? c - 'a' + 26
            : c >= '0' && c <= '9' ? c - '0' + 52
            : c == '-'             ? 62
            : c == '_'             ? 63
                                   : -1;
    if (v < 0) return {};
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

class OutcomeLoopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(SmtpSink::Available()) << SmtpSink::NotAvailableMessage();
    broker_ = testing::BrokerProcess::Start(CAIRN_BINARY, kPartitions, dir_.Sub("broker.log"));
    ASSERT_NE(broker_, nullptr) << testing::Tail(dir_.Sub("broker.log"));
    sink_ = SmtpSink::Start();
    hooks_ = std::make_unique<testing::HttpPeer>();
    hooks_->Start();
    auto producer = kafka::Producer::Create({broker_->address(), {}, {}});
    ASSERT_TRUE(producer.ok()) << producer.status().ToString();
    producer_ = std::move(producer).value();

    namespace fs = std::filesystem;
    fs::create_directories(dir_.Sub("journeys"));
    fs::create_directories(dir_.Sub("templates"));
    std::ofstream(dir_.Sub("journeys/cart-click.yaml")) << kCartJourney;
    std::ofstream(dir_.Sub("journeys/promo.yaml")) << kPromoJourney;
    std::ofstream(dir_.Sub("templates/cart-offer.yaml")) << kOfferTemplate;
    std::ofstream(dir_.Sub("templates/promo.yaml")) << kPromoTemplate;
    std::ofstream(dir_.Sub("templates/clicked-hook.yaml")) << kHookTemplate;
    std::ofstream(dir_.Sub("tracking.key")) << "0123456789abcdef0123456789abcdef\n";
    std::ofstream(dir_.Sub("hook.secret")) << "whsec-test\n";
    http_addr_ = testing::FreeLoopbackAddress();
    public_addr_ = testing::FreeLoopbackAddress();  // tracking links and callbacks
    std::ofstream(dir_.Sub("cairn.yaml"))
        << "kafka:\n"
           "  instance_id: engine-0\n"
           "  consumer:\n"
           "    session.timeout.ms: \"3000\"\n"
           "    heartbeat.interval.ms: \"500\"\n"
           "journeys:\n"
           "  trace_limit: 1000\n"
           "channels: { email: mail, webhook: hook }\n"
           "connectors:\n"
           "  mail: { type: smtp, url: \""
        << sink_->url()
        << "\", from: \"Shop <news@shop.example>\", tls: none, concurrency: 2, "
           "max_attempts: 50, initial_backoff: 100ms, max_backoff: 500ms }\n"
           "  hook: { type: webhook, url: \""
        << hooks_->url("/hooks/clicked") << "\", secret_file: " << dir_.Sub("hook.secret")
        << ", concurrency: 1, max_attempts: 5, initial_backoff: 100ms, max_backoff: 500ms }\n"
           "dispatch: { templates_dir: "
        << dir_.Sub("templates")
        << ", sync_ledger: true }\n"
           "tracking: { base_url: \"http://"
        << public_addr_ << "\", key_file: " << dir_.Sub("tracking.key") << " }\n";

    engine_ = std::make_unique<testing::ChildProcess>(
        std::vector<std::string>{CAIRN_BINARY, "run", "--config", dir_.Sub("cairn.yaml"),
                                 "--brokers", broker_->address(), "--journeys",
                                 dir_.Sub("journeys"), "--data-dir", dir_.Sub("data"), "--http",
                                 http_addr_, "--public-listen", public_addr_, "--group",
                                 "outcome-loop", "--log-level", "info"},
        dir_.Sub("engine.log"));
    ASSERT_TRUE(testing::WaitFor(
        [&] { return !engine_->running() || testing::EngineStatus(http_addr_).has_value(); },
        std::chrono::seconds(30)));
    ASSERT_TRUE(engine_->running()) << EngineLog();
  }

  void TearDown() override {
    if (HasFailure()) std::printf("engine log:\n%s\n", EngineLog().c_str());
  }

  std::string EngineLog() { return testing::Tail(dir_.Sub("engine.log"), 60); }

  void Publish(const std::string& user, json e) {
    e["userId"] = user;
    e["messageId"] = "m-" + std::to_string(++sequence_);
    e["timestamp"] = FormatTimestamp(SystemClock::Instance().NowMs());
    ASSERT_TRUE(producer_->Produce(kEvents, user, e.dump()).ok());
    ASSERT_TRUE(producer_->Flush(10000).ok());
  }
  void Identify(const std::string& user) {
    Publish(user, {{"type", "identify"}, {"traits", {{"email", user + "@example.com"}}}});
  }
  void Track(const std::string& user, const std::string& event) {
    Publish(user, {{"type", "track"}, {"event", event}, {"properties", json::object()}});
  }

  // The message smtp-sink took for `task_id`, waiting up to `timeout`.
  std::optional<SmtpSink::Received> WaitForEmail(SmtpSink& sink, const std::string& task_id,
                                                 std::chrono::milliseconds timeout) {
    std::optional<SmtpSink::Received> found;
    testing::WaitFor(
        [&] {
          for (auto& m : sink.Messages()) {
            if (m.Header("Message-ID").starts_with("<" + task_id + "@")) {
              found = std::move(m);
              return true;
            }
          }
          return false;
        },
        timeout);
    return found;
  }

  json Get(const std::string& target) {
    auto res = testing::HttpGet(http_addr_, target);
    if (res.status != 200) return json();
    return json::parse(res.body, nullptr, false);
  }

  // The decision trace of a customer's journeys.
  json Trace(const std::string& user) {
    json j = Get("/v1/customers/" + user + "/journeys?trace=1000");
    return j.is_object() && j.contains("trace") ? j["trace"] : json::array();
  }

  // Whether the trace has a line with these action, step (or "") and reason (or "").
  static bool HasLine(const json& trace, const std::string& action, const std::string& step,
                      const std::string& reason = "") {
    for (const auto& l : trace) {
      if (testing::StringField(l, "action") == action &&
          (step.empty() || testing::StringField(l, "step") == step) &&
          (reason.empty() || testing::StringField(l, "reason") == reason)) {
        return true;
      }
    }
    return false;
  }

  std::string LedgerState(const std::string& task_id, json* entry = nullptr) {
    json j = Get("/v1/tasks/" + task_id);
    if (entry != nullptr) *entry = j;
    return testing::StringField(j, "state");
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::BrokerProcess> broker_;
  std::unique_ptr<SmtpSink> sink_;
  std::unique_ptr<testing::HttpPeer> hooks_;
  std::unique_ptr<kafka::Producer> producer_;
  std::string http_addr_;
  std::string public_addr_;
  std::unique_ptr<testing::ChildProcess> engine_;
  uint64_t sequence_ = 0;
};

// The tracked links of an email: the click link to `target` and the open
// pixel, from its decoded body.
struct Links {
  std::string click, pixel;
};
Links LinksOf(const SmtpSink::Received& m, const std::string& http_addr) {
  const std::string body = DecodeQuotedPrintable(m.body);
  const std::string base = "http://" + http_addr;
  Links l;
  std::smatch match;
  if (std::regex_search(body, match, std::regex(base + "/t/c/[A-Za-z0-9_.-]+"))) {
    l.click = match.str();
  }
  if (std::regex_search(body, match, std::regex(base + "/t/o/[A-Za-z0-9_.-]+"))) {
    l.pixel = match.str();
  }
  return l;
}

TEST_F(OutcomeLoopTest, ClickedLinkTakesTheBranchAndAForgedOneDoesNot) {
  const auto started = std::chrono::steady_clock::now();
  for (const std::string user : {"ada", "bob"}) {
    Identify(user);
    Track(user, "Product Added");
  }
  const std::string ada_offer = TaskId("cart-click", "ada", 1, "offer");
  const std::string bob_offer = TaskId("cart-click", "bob", 1, "offer");
  const std::string ada_clicked = TaskId("cart-click", "ada", 1, "clicked");
  const std::string bob_clicked = TaskId("cart-click", "bob", 1, "clicked");

  auto ada_mail = WaitForEmail(*sink_, ada_offer, std::chrono::seconds(30));
  ASSERT_TRUE(ada_mail.has_value()) << "ada's email did not arrive";
  auto bob_mail = WaitForEmail(*sink_, bob_offer, std::chrono::seconds(10));
  ASSERT_TRUE(bob_mail.has_value()) << "bob's email did not arrive";
  EXPECT_EQ(ada_mail->recipients, std::vector<std::string>{"<ada@example.com>"});

  const Links ada = LinksOf(*ada_mail, public_addr_);
  const Links bob = LinksOf(*bob_mail, public_addr_);
  ASSERT_FALSE(ada.click.empty()) << "no tracked link in:\n" << ada_mail->body;
  ASSERT_FALSE(bob.click.empty()) << "no tracked link in:\n" << bob_mail->body;
  EXPECT_FALSE(ada.pixel.empty()) << "no open pixel in:\n" << ada_mail->body;

  // The open pixel: a GIF, and a Message Opened for ada.
  if (!ada.pixel.empty()) {
    const auto [addr, target] = *testing::SplitHttpUrl(ada.pixel);
    auto res = HttpCall("GET", addr, target);
    EXPECT_EQ(res.status, 200);
    EXPECT_EQ(res.Header("Content-Type"), "image/gif");
  }

  // Forged and tampered click tokens: 4xx, and no click for anybody.
  const auto [ada_addr, ada_target] = *testing::SplitHttpUrl(ada.click);
  const auto [bob_addr, bob_target] = *testing::SplitHttpUrl(bob.click);
  {
    const std::string token = ada_target.substr(ada_target.rfind('/') + 1);
    const size_t dot = token.find('.');
    ASSERT_NE(dot, std::string::npos) << token;
    json claims = json::parse(B64UrlDecode(token.substr(0, dot)), nullptr, false);
    ASSERT_TRUE(claims.is_object()) << token;
    EXPECT_EQ(claims["u"], "ada");
    EXPECT_EQ(claims["t"], ada_offer);
    EXPECT_EQ(claims["l"], kCartUrl);
    // ada's signature on claims made out to bob.
    claims["u"] = "bob";
    claims["t"] = bob_offer;
    const std::string forged = B64UrlEncode(claims.dump()) + token.substr(dot);
    auto res = HttpCall("GET", ada_addr, "/t/c/" + forged);
    EXPECT_GE(res.status, 400) << res.body;
    EXPECT_LT(res.status, 500) << res.body;
    EXPECT_TRUE(res.Header("Location").empty());
    // bob's own link with one character of the signature changed.
    std::string tampered = bob_target;
    tampered.back() = tampered.back() == 'A' ? 'B' : 'A';
    res = HttpCall("GET", bob_addr, tampered);
    EXPECT_GE(res.status, 400) << res.body;
    EXPECT_LT(res.status, 500) << res.body;
    // Cut short.
    res = HttpCall("GET", bob_addr, bob_target.substr(0, bob_target.size() - 10));
    EXPECT_GE(res.status, 400) << res.body;
    EXPECT_LT(res.status, 500) << res.body;
  }

  // ada clicks: 302 to the target, not followed.
  auto res = HttpCall("GET", ada_addr, ada_target);
  EXPECT_EQ(res.status, 302) << res.body;
  EXPECT_EQ(res.Header("Location"), kCartUrl);

  // The clicked branch: the webhook reaches its peer...
  ASSERT_TRUE(hooks_->WaitForCount(1, std::chrono::seconds(15)))
      << "the clicked branch's webhook did not arrive";
  const auto hook = hooks_->Requests().front();
  EXPECT_EQ(hook.Header("X-Cairn-Task-Id"), ada_clicked);
  const json body = json::parse(hook.body, nullptr, false);
  EXPECT_EQ(body["customer"], "ada") << hook.body;
  EXPECT_EQ(body["task_id"], ada_clicked) << hook.body;
  // ... and the decision trace shows the way: the click arrived at the
  // wait, the clicked send, the exit.
  json trace;
  EXPECT_TRUE(testing::WaitFor(
      [&] {
        trace = Trace("ada");
        return HasLine(trace, "exit", "", "clicked");
      },
      std::chrono::seconds(10)))
      << trace.dump(1);
  EXPECT_TRUE(HasLine(trace, "arrived", "wait_click")) << trace.dump(1);
  EXPECT_TRUE(HasLine(trace, "send", "clicked")) << trace.dump(1);
  EXPECT_FALSE(HasLine(trace, "timeout", "")) << trace.dump(1);
  EXPECT_TRUE(testing::WaitFor([&] { return LedgerState(ada_clicked) == "sent"; },
                               std::chrono::seconds(10)));

  // bob: the forged and tampered clicks moved nothing; the wait times out.
  EXPECT_TRUE(testing::WaitFor(
      [&] {
        trace = Trace("bob");
        return HasLine(trace, "exit", "", "timed_out");
      },
      std::chrono::seconds(20)))
      << trace.dump(1);
  EXPECT_TRUE(HasLine(trace, "timeout", "wait_click")) << trace.dump(1);
  EXPECT_FALSE(HasLine(trace, "arrived", "")) << trace.dump(1);
  EXPECT_FALSE(HasLine(trace, "send", "clicked")) << trace.dump(1);
  EXPECT_EQ(LedgerState(bob_clicked), "");
  EXPECT_EQ(hooks_->Count(), 1u);

  // The engine's record of the outcome events: ada opened and clicked; bob
  // has neither.
  const json ada_profile = Get("/v1/customers/ada");
  const json bob_profile = Get("/v1/customers/bob");
  ASSERT_TRUE(ada_profile.is_object() && bob_profile.is_object());
  EXPECT_TRUE(ada_profile["events"].contains("Message Clicked")) << ada_profile.dump();
  EXPECT_TRUE(ada_profile["events"].contains("Message Opened")) << ada_profile.dump();
  EXPECT_TRUE(ada_profile["events"].contains("Message Sent")) << ada_profile.dump();
  EXPECT_FALSE(bob_profile["events"].contains("Message Clicked")) << bob_profile.dump();
  std::printf("outcome loop test (click): %.1f s\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
}

TEST_F(OutcomeLoopTest, OneClickUnsubscribeSuppressesAnEmailDecidedBefore) {
  const auto started = std::chrono::steady_clock::now();
  Identify("cy");
  Track("cy", "Product Added");
  const std::string offer = TaskId("cart-click", "cy", 1, "offer");
  const std::string promo = TaskId("promo", "cy", 1, "promo_mail");
  auto mail = WaitForEmail(*sink_, offer, std::chrono::seconds(30));
  ASSERT_TRUE(mail.has_value()) << "cy's email did not arrive";
  EXPECT_EQ(mail->Header("List-Unsubscribe-Post"), "List-Unsubscribe=One-Click");
  const std::string header = mail->Header("List-Unsubscribe");
  ASSERT_TRUE(header.size() > 2 && header.front() == '<' && header.back() == '>') << header;
  const auto unsubscribe = testing::SplitHttpUrl(header.substr(1, header.size() - 2));
  ASSERT_TRUE(unsubscribe.has_value()) << header;

  // The promo email is decided while cy still has consent, and held back:
  // the SMTP server is down, so it waits for a retry.
  const std::string sink_address = sink_->address();
  sink_->Stop();
  Track("cy", "Promo Started");
  json entry;
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        return LedgerState(promo, &entry) == "queued" && entry["attempts"].is_array() &&
               !entry["attempts"].empty();
      },
      std::chrono::seconds(20)))
      << entry.dump();

  // One click (RFC 8058): a POST to the List-Unsubscribe URL.
  auto res = HttpCall("POST", unsubscribe->first, unsubscribe->second, "List-Unsubscribe=One-Click",
                      {{"Content-Type", "application/x-www-form-urlencoded"}});
  EXPECT_EQ(res.status, 200) << res.body;
  json profile;
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        profile = Get("/v1/customers/cy");
        return profile.is_object() && profile["traits"].contains("consent") &&
               profile["traits"]["consent"].value("email", true) == false;
      },
      std::chrono::seconds(15)))
      << "the unsubscribe did not reach cy's traits: " << profile.dump();
  EXPECT_TRUE(profile["events"].contains("Unsubscribed")) << profile.dump();

  // The SMTP server is back; the held email is not sent but suppressed.
  SmtpSink::Options again;
  again.address = sink_address;
  auto sink2 = SmtpSink::Start(again);
  ASSERT_TRUE(testing::WaitFor([&] { return LedgerState(promo, &entry) == "suppressed"; },
                               std::chrono::seconds(15)))
      << entry.dump();
  EXPECT_NE(testing::StringField(entry, "reason").find("opted out"), std::string::npos)
      << entry.dump();
  // A later promo is not even decided: without consent for its only
  // channel cy does not enter. Nothing after the unsubscribe reached the
  // server.
  Track("cy", "Promo Started");
  json trace;
  EXPECT_TRUE(testing::WaitFor(
      [&] {
        trace = Trace("cy");
        int enters = 0, skips = 0;
        for (const auto& l : trace) {
          if (l["journey"] != "promo") continue;
          enters += l["action"] == "enter" ? 1 : 0;
          skips += l["action"] == "skip" ? 1 : 0;
        }
        return enters == 1 && skips == 1;
      },
      std::chrono::seconds(15)))
      << trace.dump(1);
  EXPECT_FALSE(WaitForEmail(*sink2, promo, std::chrono::milliseconds(500)).has_value());
  EXPECT_FALSE(WaitForEmail(*sink_, promo, std::chrono::milliseconds(0)).has_value());
  EXPECT_EQ(sink2->Count(), 0u);
  std::printf("outcome loop test (unsubscribe): %.1f s\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
}

}  // namespace
}  // namespace cairn
