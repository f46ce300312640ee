// The SMTP connector against a real postfix smtp-sink on loopback: what
// arrives (headers, MIME bodies decoded back), how every kind of answer is
// classified, that a failure does not poison the next send, and the config.
#include "smtp/smtp_connector.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <regex>
#include <sstream>

#include "dispatch/config_fields.h"
#include "mime_reader.h"
#include "smtp_sink.h"
#include "test_support.h"

namespace cairn::connectors {
namespace {

using cairn::testing::SmtpSink;
using cairn::testing::TempDir;
namespace mime = cairn::testing::mime;

constexpr char kTaskId[] = "3f2a9c0d41e5b6a78899aabbccddeeff";

// Fails the test (not skips) when the sink was not bootstrapped.
std::unique_ptr<SmtpSink> StartSink(SmtpSink::Options options = {}) {
  if (!SmtpSink::Available()) {
    ADD_FAILURE() << SmtpSink::NotAvailableMessage();
    return nullptr;
  }
  return SmtpSink::Start(options);
}

std::unique_ptr<SmtpSink> StartSink(std::vector<std::string> args) {
  SmtpSink::Options o;
  o.extra_args = std::move(args);
  return StartSink(o);
}

// Configure through the YAML path the engine uses.
Result<ConnectorMaker> Configure(const std::string& yaml) {
  auto fields = dispatch::YamlConfigFields::FromText(yaml, "test.yaml", "connectors.mail");
  if (!fields.ok()) return fields.status();
  auto factory = NewSmtpFactory();
  auto maker = factory->Configure(**fields, ConnectorContext{"mail", ""});
  if (maker.ok()) {
    // Every key in the section was read by the factory.
    const Status all = (*fields)->CheckAllRead();
    if (!all.ok()) return all;
  }
  return maker;
}

std::unique_ptr<Connector> MakeConnector(const std::string& yaml) {
  auto maker = Configure(yaml);
  EXPECT_TRUE(maker.ok()) << maker.status().ToString();
  if (!maker.ok()) return nullptr;
  auto connector = (*maker)();
  EXPECT_TRUE(connector.ok()) << connector.status().ToString();
  return connector.ok() ? std::move(connector.value()) : nullptr;
}

std::string BasicYaml(const std::string& url, const std::string& extra = "") {
  return "url: " + url + "\nfrom: \"Cairn Shop <news@shop.example>\"\n" + extra;
}

OutboundMessage Message() {
  OutboundMessage m;
  m.task_id = kTaskId;
  m.customer_id = "cust-42";
  m.journey = "welcome";
  m.version = 3;
  m.step = "send_welcome";
  m.channel = "email";
  m.to = {"ada@example.com"};
  m.content = {{"subject", "Welcome, Ada"},
               {"text", "Hello Ada,\nthanks for joining.\n"},
               {"html", "<p>Hello Ada,</p>\n<p>thanks for joining.</p>\n"}};
  return m;
}

std::string Describe(const SendResult& r) {
  return std::string(SendOutcomeName(r.outcome)) + " code=" + std::to_string(r.code) +
         " detail=" + r.detail + (r.recipient_rejected ? " (recipient rejected)" : "");
}

// ---------------------------------------------------------------- what arrives

TEST(SmtpConnector, HeadersArriveAsSpecified) {
  auto sink = StartSink();
  ASSERT_NE(sink, nullptr);
  auto c = MakeConnector(BasicYaml(sink->url(),
                                   "reply_to: help@shop.example\n"
                                   "message_id_domain: mail.shop.example\n"
                                   "helo_domain: mta1.shop.example\n"));
  ASSERT_NE(c, nullptr);
  OutboundMessage m = Message();
  m.to = {"Ada Lovelace <ada@example.com>"};
  m.content["subject"] = "Grüße, Ada – dein Rabatt 🎉";
  m.unsubscribe_url = "https://t.shop.example/u/" + std::string(kTaskId) + "?sig=ab12";

  const SendResult r = c->Send(m);
  ASSERT_EQ(r.outcome, SendOutcome::kAccepted) << Describe(r) << "\n" << sink->LogTail();
  EXPECT_EQ(r.code, 250);
  EXPECT_EQ(r.provider_id, "");  // smtp-sink answers "250 2.0.0 Ok", no queue id

  const auto got = sink->Messages();
  ASSERT_EQ(got.size(), 1u);
  const auto& msg = got[0];
  EXPECT_EQ(msg.mail_from, "<news@shop.example>");
  EXPECT_EQ(msg.recipients, std::vector<std::string>{"<ada@example.com>"});
  EXPECT_EQ(msg.helo, "mta1.shop.example");
  EXPECT_EQ(msg.Header("From"), "Cairn Shop <news@shop.example>");
  EXPECT_EQ(msg.Header("To"), "Ada Lovelace <ada@example.com>");
  EXPECT_EQ(msg.Header("Reply-To"), "help@shop.example");
  EXPECT_NE(msg.Header("Subject").find("=?UTF-8?B?"), std::string::npos);
  EXPECT_EQ(mime::DecodeHeader(msg.Header("Subject")), "Grüße, Ada – dein Rabatt 🎉");
  EXPECT_EQ(msg.Header("Message-ID"), "<" + std::string(kTaskId) + "@mail.shop.example>");
  EXPECT_EQ(msg.Header("MIME-Version"), "1.0");
  // RFC 8058: the HTTPS URI in angle brackets, and exactly this POST body.
  EXPECT_EQ(msg.Header("List-Unsubscribe"), "<" + m.unsubscribe_url + ">");
  EXPECT_EQ(msg.Header("List-Unsubscribe-Post"), "List-Unsubscribe=One-Click");
  EXPECT_EQ(msg.Header("X-Cairn-Task-Id"), kTaskId);
  EXPECT_EQ(msg.Header("X-Cairn-Journey"), "welcome");
  EXPECT_EQ(msg.Header("X-Cairn-Step"), "send_welcome");
  EXPECT_TRUE(std::regex_match(
      msg.Header("Date"),
      std::regex(
          R"((Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{1,2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d \+0000)")))
      << msg.Header("Date");
  for (const char* once : {"From", "To", "Subject", "Date", "Message-ID", "List-Unsubscribe"}) {
    EXPECT_EQ(msg.headers.count(once), 1u) << once;
  }
}

TEST(SmtpConnector, NoUnsubscribeHeadersWithoutUrlAndDefaults) {
  auto sink = StartSink();
  ASSERT_NE(sink, nullptr);
  auto c = MakeConnector("url: " + sink->url() + "\nfrom: news@shop.example\n");
  ASSERT_NE(c, nullptr);
  const SendResult r = c->Send(Message());
  ASSERT_EQ(r.outcome, SendOutcome::kAccepted) << Describe(r);
  const auto got = sink->Messages();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_FALSE(got[0].Has("List-Unsubscribe"));
  EXPECT_FALSE(got[0].Has("List-Unsubscribe-Post"));
  EXPECT_FALSE(got[0].Has("Reply-To"));
  EXPECT_EQ(got[0].Header("From"), "news@shop.example");
  EXPECT_EQ(got[0].Header("Subject"), "Welcome, Ada");
  EXPECT_EQ(got[0].Header("Message-ID"), "<" + std::string(kTaskId) + "@cairn.local>");
  EXPECT_EQ(got[0].helo, "cairn.local");
}

TEST(SmtpConnector, MultipartBodiesDecodeBackToTheInput) {
  auto sink = StartSink();
  ASSERT_NE(sink, nullptr);
  auto c = MakeConnector(BasicYaml(sink->url()));
  ASSERT_NE(c, nullptr);
  OutboundMessage m = Message();
  // What quoted-printable has to get right: '=', trailing spaces, a line
  // that is only ".", a leading ".", a line far over 998 octets, UTF-8.
  const std::string text = "Hallo Ada = 100% sicher   \n.\n.hidden dot\n" + std::string(3000, 'x') +
                           "\nÄpfel, Öl und Grüße – 🎉\n\tTab\n";
  const std::string html =
      "<html><body style=\"font-family:sans\">\n<p>Grüße &amp; <b>100%</b>"
      "</p>\n" +
      std::string(1500, 'y') + "\n</body></html>";
  m.content = {{"subject", "Two parts"}, {"text", text}, {"html", html}};
  const SendResult r = c->Send(m);
  ASSERT_EQ(r.outcome, SendOutcome::kAccepted) << Describe(r);

  const auto got = sink->Messages();
  ASSERT_EQ(got.size(), 1u);
  const auto& msg = got[0];
  const std::string type = msg.Header("Content-Type");
  ASSERT_EQ(type.rfind("multipart/alternative;", 0), 0u) << type;
  const std::string boundary = mime::Param(type, "boundary");
  ASSERT_FALSE(boundary.empty());
  const auto parts = mime::SplitMultipart(msg.body, boundary);
  ASSERT_EQ(parts.size(), 2u) << msg.body;
  EXPECT_EQ(parts[0].Header("Content-Type"), "text/plain; charset=utf-8");
  EXPECT_EQ(parts[1].Header("Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(parts[0].Header("Content-Transfer-Encoding"), "quoted-printable");
  EXPECT_EQ(mime::DecodedBody(parts[0]), text);
  EXPECT_EQ(mime::DecodedBody(parts[1]), html);
  // Every line on the wire within the RFC 5322 limit (QP keeps 76).
  size_t longest = 0;
  size_t start = 0;
  for (size_t nl; (nl = msg.body.find('\n', start)) != std::string::npos; start = nl + 1) {
    longest = std::max(longest, nl - start);
  }
  EXPECT_LE(longest, 76u);
}

TEST(SmtpConnector, SinglePartWhenOnlyOneBodyExists) {
  auto sink = StartSink();
  ASSERT_NE(sink, nullptr);
  auto c = MakeConnector(BasicYaml(sink->url()));
  ASSERT_NE(c, nullptr);

  OutboundMessage text_only = Message();
  text_only.task_id = "text-only";
  text_only.content = {{"subject", "Text"}, {"text", "Just text.\nSecond line"}};
  ASSERT_EQ(c->Send(text_only).outcome, SendOutcome::kAccepted);

  OutboundMessage html_only = Message();
  html_only.task_id = "html-only";
  html_only.content = {{"subject", "Html"}, {"html", "<p>Nur HTML – schön</p>\n"}};
  ASSERT_EQ(c->Send(html_only).outcome, SendOutcome::kAccepted);

  // Mostly non-ASCII text goes base64 (smaller than quoted-printable).
  OutboundMessage cjk = Message();
  cjk.task_id = "cjk";
  const std::string cjk_text = "こんにちは、エイダさん。ご登録ありがとうございます。\n";
  cjk.content = {{"subject", "ようこそ"}, {"text", cjk_text}};
  ASSERT_EQ(c->Send(cjk).outcome, SendOutcome::kAccepted);

  const auto got = sink->Messages();
  ASSERT_EQ(got.size(), 3u);
  std::map<std::string, const SmtpSink::Received*> by_task;
  for (const auto& g : got) by_task[g.Header("X-Cairn-Task-Id")] = &g;
  ASSERT_EQ(by_task.size(), 3u);

  const auto& t = *by_task["text-only"];
  EXPECT_EQ(t.Header("Content-Type"), "text/plain; charset=utf-8");
  // A body must end with a line break on the wire: the one added is the only change.
  EXPECT_EQ(
      mime::DecodedBody(mime::ParseEntity(
          "Content-Transfer-Encoding: " + t.Header("Content-Transfer-Encoding") + "\n\n" + t.body)),
      "Just text.\nSecond line\n");

  const auto& h = *by_task["html-only"];
  EXPECT_EQ(h.Header("Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(mime::DecodeQuotedPrintable(h.body), "<p>Nur HTML – schön</p>\n");
  EXPECT_EQ(h.Header("Content-Transfer-Encoding"), "quoted-printable");

  const auto& j = *by_task["cjk"];
  EXPECT_EQ(j.Header("Content-Transfer-Encoding"), "base64");
  EXPECT_EQ(mime::DecodeBase64(j.body), cjk_text);
  EXPECT_EQ(mime::DecodeHeader(j.Header("Subject")), "ようこそ");
  EXPECT_EQ(j.Header("Message-ID"), "<cjk@cairn.local>");
}

TEST(SmtpConnector, LongSubjectsAndOddDisplayNamesSurviveFolding) {
  auto sink = StartSink();
  ASSERT_NE(sink, nullptr);
  auto c = MakeConnector("url: " + sink->url() +
                         "\nfrom: '\"Shop, Inc. \\\"Deals\\\"\" <news@shop.example>'\n");
  ASSERT_NE(c, nullptr);
  OutboundMessage ascii = Message();
  ascii.task_id = "ascii";
  std::string long_ascii;
  for (int i = 0; i < 30; ++i) long_ascii += "word" + std::to_string(i) + " ";
  long_ascii += "end";
  ascii.content["subject"] = long_ascii;
  ascii.to = {"Zoë Müller <zoe@example.com>"};
  ASSERT_EQ(c->Send(ascii).outcome, SendOutcome::kAccepted);

  OutboundMessage utf8 = Message();
  utf8.task_id = "utf8";
  std::string long_utf8;
  for (int i = 0; i < 40; ++i) long_utf8 += "Grüße ";
  utf8.content["subject"] = long_utf8 + "\r\nInjected: header";
  ASSERT_EQ(c->Send(utf8).outcome, SendOutcome::kAccepted);

  const auto got = sink->Messages();
  ASSERT_EQ(got.size(), 2u);
  for (const auto& g : got) {
    EXPECT_EQ(mime::DecodeHeader(g.Header("From")),
              "\"Shop, Inc. \\\"Deals\\\"\" <news@shop.example>");
    EXPECT_FALSE(g.Has("Injected"));
    if (g.Header("X-Cairn-Task-Id") == "ascii") {
      EXPECT_EQ(g.Header("Subject"), long_ascii);  // folded on the wire, unfolded here
      EXPECT_EQ(mime::DecodeHeader(g.Header("To")), "Zoë Müller <zoe@example.com>");
    } else {
      EXPECT_EQ(mime::DecodeHeader(g.Header("Subject")), long_utf8 + " Injected: header");
    }
  }
  // No header line over 78 octets in the dump (folding happened).
  const std::string raw = [&] {
    std::ifstream in(got[0].file);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }();
  const std::string head = raw.substr(0, raw.find("\n\n"));
  size_t start = 0;
  for (size_t nl; (nl = head.find('\n', start)) != std::string::npos; start = nl + 1) {
    EXPECT_LE(nl - start, 78u) << head.substr(start, nl - start);
  }
}

// Client-side TCP connections to 127.0.0.1:port that are open right now.
int OpenConnectionsTo(int port) {
  char want[32];
  std::snprintf(want, sizeof want, "0100007F:%04X", port);
  std::ifstream in("/proc/net/tcp");
  std::string line;
  std::getline(in, line);
  int n = 0;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string sl, local, remote, st;
    f >> sl >> local >> remote >> st;
    if (remote == want && st == "01") ++n;  // ESTABLISHED
  }
  return n;
}

TEST(SmtpConnector, ManySendsOnOneConnection) {
  auto sink = StartSink();
  ASSERT_NE(sink, nullptr);
  auto c = MakeConnector(BasicYaml(sink->url()));
  ASSERT_NE(c, nullptr);
  for (int i = 0; i < 20; ++i) {
    OutboundMessage m = Message();
    m.task_id = "task-" + std::to_string(i);
    const SendResult r = c->Send(m);
    ASSERT_EQ(r.outcome, SendOutcome::kAccepted) << i << ": " << Describe(r);
  }
  EXPECT_EQ(sink->Count(), 20u);
  // The connection is kept between sends: one, not twenty.
  EXPECT_EQ(OpenConnectionsTo(sink->port()), 1);
  c.reset();  // closing the connector closes it
  EXPECT_TRUE(cairn::testing::WaitFor([&] { return OpenConnectionsTo(sink->port()) == 0; },
                                      std::chrono::seconds(5)));
}

// ------------------------------------------------------------ classification

struct Case {
  std::vector<std::string> sink_args;
  SendOutcome outcome;
  int code;
  bool recipient_rejected;
  size_t taken;            // messages the sink has afterwards
  std::string detail_has;  // a piece of SendResult::detail
};

void ExpectCase(const Case& k, const std::string& timeout = "5s") {
  SCOPED_TRACE(::testing::PrintToString(k.sink_args));
  auto sink = StartSink(k.sink_args);
  ASSERT_NE(sink, nullptr);
  auto c = MakeConnector(BasicYaml(sink->url(), "timeout: " + timeout + "\n"));
  ASSERT_NE(c, nullptr);
  const auto begin = std::chrono::steady_clock::now();
  const SendResult r = c->Send(Message());
  const auto took = std::chrono::steady_clock::now() - begin;
  EXPECT_EQ(r.outcome, k.outcome) << Describe(r);
  EXPECT_EQ(r.code, k.code) << Describe(r);
  EXPECT_EQ(r.recipient_rejected, k.recipient_rejected) << Describe(r);
  EXPECT_NE(r.detail.find(k.detail_has), std::string::npos) << Describe(r);
  EXPECT_LT(took, std::chrono::seconds(5));
  EXPECT_EQ(sink->Count(), k.taken);
}

TEST(SmtpClassification, SoftRejectsAreRetryableWithTheirCode) {
  ExpectCase({{"-r", "rcpt"}, SendOutcome::kRetryable, 450, false, 0, "RCPT TO refused: 450"});
  ExpectCase({{"-r", "data"}, SendOutcome::kRetryable, 450, false, 0, "DATA refused: 450"});
  ExpectCase({{"-r", "mail"}, SendOutcome::kRetryable, 450, false, 0, "MAIL FROM refused"});
  // A 4xx to the end of data: the server did not take it.
  ExpectCase({{"-r", "."}, SendOutcome::kRetryable, 450, false, 1, "end of data refused"});
  // 421 and hang up (server shutting down).
  ExpectCase({{"-Q", "rcpt"}, SendOutcome::kRetryable, 421, false, 0, "421"});
  // The greeting itself is a 4xx.
  ExpectCase({{"-r", "connect"}, SendOutcome::kRetryable, 450, false, 0, "450"});
}

TEST(SmtpClassification, HardRejectOfTheRecipientIsABounce) {
  ExpectCase({{"-f", "rcpt", "-B", "550 5.1.1 <ada@example.com>: Recipient address rejected"},
              SendOutcome::kPermanent,
              550,
              true,
              0,
              "RCPT TO refused: 550 5.1.1 <ada@example.com>: Recipient address rejected"});
  // smtp-sink's default hard reply.
  ExpectCase({{"-f", "rcpt"}, SendOutcome::kPermanent, 500, true, 0, "RCPT TO refused"});
}

TEST(SmtpClassification, OtherHardRejectsArePermanentNotBounces) {
  ExpectCase({{"-f", "data"}, SendOutcome::kPermanent, 500, false, 0, "DATA refused"});
  ExpectCase({{"-f", ".", "-B", "554 5.7.1 Message rejected as spam"},
              SendOutcome::kPermanent,
              554,
              false,
              // smtp-sink writes the dump before it answers the end of data
              1,
              "end of data refused: 554 5.7.1 Message rejected as spam"});
  ExpectCase({{"-f", "mail"}, SendOutcome::kPermanent, 500, false, 0, "MAIL FROM refused"});
}

TEST(SmtpClassification, ConnectionRefusedIsRetryable) {
  const std::string address = cairn::testing::FreeLoopbackAddress();  // nothing listens
  auto c = MakeConnector(BasicYaml("smtp://" + address));
  ASSERT_NE(c, nullptr);
  const SendResult r = c->Send(Message());
  EXPECT_EQ(r.outcome, SendOutcome::kRetryable) << Describe(r);
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.detail.find("not sent"), std::string::npos) << Describe(r);
  EXPECT_FALSE(r.recipient_rejected);
}

TEST(SmtpClassification, UnknownHostIsRetryable) {
  auto c = MakeConnector(BasicYaml("smtp://no-such-host.invalid:2525", "connect_timeout: 2s\n"));
  ASSERT_NE(c, nullptr);
  const SendResult r = c->Send(Message());
  EXPECT_EQ(r.outcome, SendOutcome::kRetryable) << Describe(r);
  EXPECT_EQ(r.code, 0);
}

TEST(SmtpClassification, TimeoutAfterTheDataWentOutIsUnknown) {
  // -W .:3 : the sink has the whole message (it is dumped) but waits 3 s to
  // answer; the connector gives up after 500 ms. It may have been taken -
  // here it was.
  ExpectCase({{"-W", ".:3"}, SendOutcome::kUnknown, 0, false, 1, "may have taken it"}, "500ms");
}

TEST(SmtpClassification, TimeoutBeforeTheDataIsRetryable) {
  // -w 3 delays the answer to the DATA command (before 354): no message data
  // has gone out, so the server cannot have taken it.
  ExpectCase({{"-w", "3"}, SendOutcome::kRetryable, 0, false, 0, "before the message data"},
             "500ms");
  // Same for a slow RCPT answer.
  ExpectCase({{"-W", "rcpt:3"}, SendOutcome::kRetryable, 0, false, 0, "RCPT TO"}, "500ms");
}

TEST(SmtpClassification, DisconnectsAreClassifiedByWhereTheyHappen) {
  // Hang up after the end of data without answering: the sink kept it.
  ExpectCase({{"-q", "."}, SendOutcome::kUnknown, 0, false, 1, "may have taken it"});
  // Hang up on DATA or RCPT: nothing was taken.
  ExpectCase({{"-q", "data"}, SendOutcome::kRetryable, 0, false, 0, "DATA"});
  ExpectCase({{"-q", "rcpt"}, SendOutcome::kRetryable, 0, false, 0, "RCPT TO"});
  ExpectCase({{"-q", "connect"}, SendOutcome::kRetryable, 0, false, 0, "session"});
  // A 550 in the middle of the data (-A: abort after 354), then hang-up.
  // Whether libcurl reads the 550 before its write hits the closed socket is
  // a race: a 550 is permanent; a broken pipe while the data went out is
  // unknown (retried with the same Message-ID). Never accepted, never lost.
  auto sink = StartSink({"-A", "0"});
  ASSERT_NE(sink, nullptr);
  auto c = MakeConnector(BasicYaml(sink->url(), "timeout: 5s\n"));
  ASSERT_NE(c, nullptr);
  const SendResult r = c->Send(Message());
  if (r.outcome == SendOutcome::kPermanent) {
    EXPECT_EQ(r.code, 550) << Describe(r);
  } else {
    EXPECT_EQ(r.outcome, SendOutcome::kUnknown) << Describe(r);
    EXPECT_NE(r.detail.find("may have taken it"), std::string::npos) << Describe(r);
  }
  EXPECT_FALSE(r.recipient_rejected);
  EXPECT_EQ(sink->Count(), 0u);
}

TEST(SmtpClassification, BadRecipientAddressIsARejectedRecipient) {
  auto sink = StartSink();
  ASSERT_NE(sink, nullptr);
  auto c = MakeConnector(BasicYaml(sink->url()));
  ASSERT_NE(c, nullptr);
  for (const std::vector<std::string>& to : {std::vector<std::string>{},
                                             {""},
                                             {"not an address"},
                                             {"ada@"},
                                             {"a\r\nRCPT TO:<x@y.z>"},
                                             {"Ada <ada@exa mple.com>"}}) {
    OutboundMessage m = Message();
    m.to = to;
    const SendResult r = c->Send(m);
    EXPECT_EQ(r.outcome, SendOutcome::kPermanent) << Describe(r);
    EXPECT_TRUE(r.recipient_rejected) << Describe(r);
    EXPECT_TRUE(r.detail.find("recipient") != std::string::npos) << Describe(r);
  }
  EXPECT_EQ(sink->Count(), 0u);
  // The connector still sends afterwards.
  EXPECT_EQ(c->Send(Message()).outcome, SendOutcome::kAccepted);
}

TEST(SmtpClassification, NoBodyIsPermanent) {
  auto sink = StartSink();
  ASSERT_NE(sink, nullptr);
  auto c = MakeConnector(BasicYaml(sink->url()));
  ASSERT_NE(c, nullptr);
  OutboundMessage m = Message();
  m.content = {{"subject", "nothing"}};
  const SendResult r = c->Send(m);
  EXPECT_EQ(r.outcome, SendOutcome::kPermanent) << Describe(r);
  EXPECT_FALSE(r.recipient_rejected);
  m = Message();
  m.unsubscribe_url = "https://x.example/u>\r\nBcc: victim@example.com";
  EXPECT_EQ(c->Send(m).outcome, SendOutcome::kPermanent);
  EXPECT_EQ(sink->Count(), 0u);
}

// ------------------------------------------------- failures do not poison

TEST(SmtpRecovery, ARefusedTransactionDoesNotPoisonTheNext) {
  // Were the connection kept in the middle of a refused transaction, the
  // next MAIL FROM would get "503 nested MAIL command" instead.
  for (const char* cmd : {"rcpt", "data"}) {
    SCOPED_TRACE(cmd);
    auto sink = StartSink({"-r", cmd});
    ASSERT_NE(sink, nullptr);
    auto c = MakeConnector(BasicYaml(sink->url()));
    ASSERT_NE(c, nullptr);
    for (int i = 0; i < 3; ++i) {
      const SendResult r = c->Send(Message());
      EXPECT_EQ(r.outcome, SendOutcome::kRetryable) << Describe(r);
      EXPECT_EQ(r.code, 450) << Describe(r);
    }
  }
}

TEST(SmtpRecovery, SendsAgainAfterTheServerWentAwayAndCameBack) {
  auto sink = StartSink();
  ASSERT_NE(sink, nullptr);
  const std::string address = sink->address();
  auto c = MakeConnector(BasicYaml(sink->url()));
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(c->Send(Message()).outcome, SendOutcome::kAccepted);  // a connection is cached

  sink->Stop();  // the cached connection is dead now
  SendResult r = c->Send(Message());
  EXPECT_EQ(r.outcome, SendOutcome::kRetryable) << Describe(r);

  SmtpSink::Options same;
  same.address = address;
  auto again = StartSink(same);
  ASSERT_NE(again, nullptr);
  r = c->Send(Message());
  EXPECT_EQ(r.outcome, SendOutcome::kAccepted) << Describe(r);
  EXPECT_EQ(again->Count(), 1u);
}

TEST(SmtpRecovery, SendsAgainAfterATimeoutAndAHangUp) {
  SmtpSink::Options slow;
  slow.extra_args = {"-W", ".:3"};
  auto sink = StartSink(slow);
  ASSERT_NE(sink, nullptr);
  const std::string address = sink->address();
  auto c = MakeConnector(BasicYaml(sink->url(), "timeout: 500ms\n"));
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->Send(Message()).outcome, SendOutcome::kUnknown);
  sink.reset();

  SmtpSink::Options hangup;
  hangup.address = address;
  hangup.extra_args = {"-q", "."};
  sink = StartSink(hangup);
  ASSERT_NE(sink, nullptr);
  EXPECT_EQ(c->Send(Message()).outcome, SendOutcome::kUnknown);
  sink.reset();

  SmtpSink::Options good;
  good.address = address;
  sink = StartSink(good);
  ASSERT_NE(sink, nullptr);
  const SendResult r = c->Send(Message());
  EXPECT_EQ(r.outcome, SendOutcome::kAccepted) << Describe(r);
  EXPECT_EQ(sink->Count(), 1u);
}

TEST(SmtpRecovery, ConnectionRefusedThenServerUp) {
  const std::string address = cairn::testing::FreeLoopbackAddress();
  auto c = MakeConnector(BasicYaml("smtp://" + address));
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->Send(Message()).outcome, SendOutcome::kRetryable);
  SmtpSink::Options o;
  o.address = address;
  auto sink = StartSink(o);
  ASSERT_NE(sink, nullptr);
  EXPECT_EQ(c->Send(Message()).outcome, SendOutcome::kAccepted);
}

// ---------------------------------------------------------------- config

// The error of configuring `yaml`, "" when it configures.
std::string ConfigError(const std::string& yaml) {
  auto maker = Configure(yaml);
  return maker.ok() ? "" : maker.status().message();
}

TEST(SmtpConfig, TypeName) { EXPECT_EQ(NewSmtpFactory()->type(), "smtp"); }

TEST(SmtpConfig, ErrorsNameTheField) {
  const std::string from = "from: news@shop.example\n";
  struct Bad {
    std::string yaml;
    std::string field;
  };
  const std::vector<Bad> bad = {
      {from, "connectors.mail.url"},  // required
      {"url: http://127.0.0.1:25\n" + from, "connectors.mail.url"},
      {"url: smtp://\n" + from, "connectors.mail.url"},
      {"url: smtp://user:pw@127.0.0.1:25\n" + from, "connectors.mail.url"},
      {"url: smtp://127.0.0.1:25/x\n" + from, "connectors.mail.url"},
      {"url: smtp://127.0.0.1:25\n", "connectors.mail.from"},  // required
      {"url: smtp://127.0.0.1:25\nfrom: not-an-address\n", "connectors.mail.from"},
      {"url: smtp://127.0.0.1:25\nfrom: Shop <news@>\n", "connectors.mail.from"},
      {"url: smtp://127.0.0.1:25\n" + from + "reply_to: a b@c\n", "connectors.mail.reply_to"},
      {"url: smtp://127.0.0.1:25\n" + from + "tls: sometimes\n", "connectors.mail.tls"},
      {"url: smtp://127.0.0.1:25\n" + from + "tls: tls\n", "connectors.mail.tls"},
      {"url: smtps://127.0.0.1:465\n" + from + "tls: starttls\n", "connectors.mail.tls"},
      {"url: smtp://127.0.0.1:25\n" + from + "timeout: soon\n", "connectors.mail.timeout"},
      {"url: smtp://127.0.0.1:25\n" + from + "timeout: 0\n", "connectors.mail.timeout"},
      {"url: smtp://127.0.0.1:25\n" + from + "connect_timeout: -1s\n",
       "connectors.mail.connect_timeout"},
      {"url: smtp://127.0.0.1:25\n" + from + "insecure_skip_verify: maybe\n",
       "connectors.mail.insecure_skip_verify"},
      {"url: smtp://127.0.0.1:25\n" + from + "helo_domain: bad_domain!\n",
       "connectors.mail.helo_domain"},
      {"url: smtp://127.0.0.1:25\n" + from + "message_id_domain: a..b\n",
       "connectors.mail.message_id_domain"},
      {"url: smtp://127.0.0.1:25\n" + from + "ca_file: /nonexistent/ca.pem\n",
       "connectors.mail.ca_file"},
      {"url: smtp://127.0.0.1:25\n" + from + "password_file: /nonexistent/pw\n",
       "connectors.mail.password_file"},
  };
  for (const auto& b : bad) {
    const std::string error = ConfigError(b.yaml);
    EXPECT_NE(error.find(b.field + ":"), std::string::npos) << b.yaml << "\n=> " << error;
    EXPECT_EQ(error.rfind("test.yaml", 0), 0u) << error;  // file:line:col first
  }
  // A good one, every key spelled out.
  EXPECT_EQ(ConfigError("url: smtps://127.0.0.1:465\nfrom: Shop <news@shop.example>\n"
                        "reply_to: help@shop.example\ntls: tls\nca_file: /dev/null\n"
                        "insecure_skip_verify: true\ntimeout: 20s\nconnect_timeout: 5s\n"
                        "helo_domain: mta.shop.example\nmessage_id_domain: shop.example\n"),
            "");
  for (const char* tls : {"none", "starttls", "required_starttls"}) {
    EXPECT_EQ(ConfigError("url: smtp://127.0.0.1:587\n" + from + "tls: " + tls + "\n"), "") << tls;
  }
}

TEST(SmtpConfig, CredentialsComeFromFiles) {
  TempDir dir;
  {
    std::ofstream(dir.Sub("user")) << "mailer\n";
    std::ofstream(dir.Sub("pass")) << "s3cr3t-pa55\n";
  }
  const std::string base = "url: smtp://127.0.0.1:25\nfrom: news@shop.example\n";
  // One without the other names the missing one.
  EXPECT_NE(ConfigError(base + "username_file: " + dir.Sub("user") + "\n")
                .find("connectors.mail.password_file"),
            std::string::npos);
  EXPECT_NE(ConfigError(base + "password_file: " + dir.Sub("pass") + "\n")
                .find("connectors.mail.username_file"),
            std::string::npos);
  // An empty secret file is an error naming its field.
  std::ofstream(dir.Sub("empty")) << "\n";
  const std::string empty_error = ConfigError(base + "username_file: " + dir.Sub("empty") +
                                              "\npassword_file: " + dir.Sub("pass") + "\n");
  EXPECT_NE(empty_error.find("connectors.mail.username_file"), std::string::npos) << empty_error;

  // The secret is read and used: the connector authenticates. smtp-sink
  // announces AUTH PLAIN LOGIN but answers 250 instead of 334/235, which
  // libcurl takes as a refused login - proof that AUTH was attempted.
  auto sink = StartSink();
  ASSERT_NE(sink, nullptr);
  auto c = MakeConnector("url: " + sink->url() + "\nfrom: news@shop.example\nusername_file: " +
                         dir.Sub("user") + "\npassword_file: " + dir.Sub("pass") + "\n");
  ASSERT_NE(c, nullptr);
  const SendResult r = c->Send(Message());
  EXPECT_EQ(r.outcome, SendOutcome::kPermanent) << Describe(r);
  EXPECT_NE(r.detail.find("authentication refused"), std::string::npos) << Describe(r);
  EXPECT_EQ(r.detail.find("s3cr3t"), std::string::npos) << "the secret leaked: " << r.detail;
  EXPECT_EQ(sink->Count(), 0u);
  // Without credentials the same sink takes it.
  auto plain = MakeConnector(BasicYaml(sink->url()));
  ASSERT_NE(plain, nullptr);
  EXPECT_EQ(plain->Send(Message()).outcome, SendOutcome::kAccepted);
}

TEST(SmtpConfig, RequiredStarttlsFailsWhenNotOffered) {
  // smtp-sink offers no STARTTLS: required_starttls must not send in clear.
  auto sink = StartSink();
  ASSERT_NE(sink, nullptr);
  auto c = MakeConnector(BasicYaml(sink->url(), "tls: required_starttls\n"));
  ASSERT_NE(c, nullptr);
  const SendResult r = c->Send(Message());
  EXPECT_NE(r.outcome, SendOutcome::kAccepted) << Describe(r);
  EXPECT_EQ(sink->Count(), 0u);
}

}  // namespace
}  // namespace cairn::connectors
