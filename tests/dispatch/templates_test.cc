// Message templates (engine/dispatch/templates.h): loading with file:line:col
// errors, rendering (scope, escaping, the track lambda, the open pixel), the
// checks `cairn validate` runs, and the shipped journeys/templates.
#include "dispatch/templates.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "journey/loader.h"
#include "test_support.h"

namespace cairn::dispatch {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kKey[] = "templates-test-key-0123456789";

class TemplatesTest : public ::testing::Test {
 protected:
  TemplatesTest() { std::filesystem::create_directories(dir()); }
  std::string dir() const { return tmp_.Sub("templates"); }
  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = dir() + "/" + name + ".yaml";
    std::ofstream(path) << text;
    return path;
  }
  std::shared_ptr<const TemplateSet> Load() {
    auto set = TemplateSet::LoadDir(dir());
    EXPECT_TRUE(set.ok()) << set.status().ToString();
    return set.ok() ? *set : std::make_shared<TemplateSet>();
  }
  // Loads `text` as the only template and returns the load error.
  std::string LoadError(const std::string& text) {
    std::filesystem::remove_all(dir());
    std::filesystem::create_directories(dir());
    Write("t", text);
    auto set = TemplateSet::LoadDir(dir());
    EXPECT_FALSE(set.ok()) << text;
    return set.ok() ? "" : set.status().message();
  }
  std::map<std::string, std::string> Render(const std::string& text, RenderInput in) {
    Write("r", text);
    auto set = Load();
    const Template* t = set->Find("r");
    EXPECT_NE(t, nullptr);
    if (t == nullptr) return {};
    auto out = set->Render(*t, in);
    EXPECT_TRUE(out.ok()) << out.status().ToString();
    return out.ok() ? *out : std::map<std::string, std::string>{};
  }
  Status RenderError(const std::string& text, RenderInput in) {
    Write("r", text);
    auto set = Load();
    const Template* t = set->Find("r");
    if (t == nullptr) return Internal("not loaded");
    auto out = set->Render(*t, in);
    return out.ok() ? Status::Ok() : out.status();
  }
  static RenderInput Input() {
    RenderInput in;
    in.traits_json =
        R"({"first_name":"Zoë","vip":true,"newsletter":false,"points":1200,"ratio":0.5,)"
        R"("tags":[],"nick":null,"consent":{"email":true},"company":"Tom & Jerry's <b>"})";
    in.customer_id = "user-1";
    in.event_json =
        R"({"name":"Product Added","type":"track","ts":1793613600000,"message_id":"m-1",)"
        R"("properties":{"cart_id":"c 1&2","name":"Trail runner",)"
        R"("products":[{"name":"Sock","qty":2},{"name":"Shoe","qty":1}]}})";
    in.params_json = R"({"discount_percent":15,"show_cart":true,"coupon_id":"VIP-15"})";
    in.task_id = "task-9";
    in.journey = "cart-abandonment";
    in.step = "reminder_email";
    in.channel = "email";
    in.version = 3;
    return in;
  }

  cairn::testing::TempDir tmp_;
};

// ---- loading

TEST_F(TemplatesTest, LoadsPartsPerChannel) {
  Write("a", "channel: email\nsubject: Hi\ntext: Hello\nhtml: <p>Hello</p>\n");
  Write("b", "channel: sms\nbody: Hi\n");
  Write("c", "channel: push\ntitle: T\nbody: B\n");
  Write("d", "channel: webhook\nbody: '{}'\n");
  Write("e", "channel: kafka\nbody: '{}'\n");
  auto set = Load();
  EXPECT_EQ(set->size(), 5u);
  ASSERT_NE(set->Find("a"), nullptr);
  EXPECT_EQ(set->Find("a")->channel, "email");
  EXPECT_EQ(set->Find("a")->parts.size(), 3u);
  EXPECT_EQ(set->Find("a")->file, dir() + "/a.yaml");
  EXPECT_EQ(set->Find("b")->parts.at("body"), "Hi");
  EXPECT_EQ(set->Find("zzz"), nullptr);
  EXPECT_TRUE(set->dir_exists());
}

TEST_F(TemplatesTest, AMissingDirIsAnEmptySet) {
  auto set = TemplateSet::LoadDir(tmp_.Sub("nope"));
  ASSERT_TRUE(set.ok());
  EXPECT_EQ((*set)->size(), 0u);
  EXPECT_FALSE((*set)->dir_exists());
}

TEST_F(TemplatesTest, LoadErrorsCarryFileLineColumn) {
  const std::string f = dir() + "/t.yaml";
  EXPECT_EQ(LoadError("channel: email\nsubject: Hi\ntext: x\nbody: y\n"),
            f + ":4:1: 'body' is not a part of an email template; use subject, text and html");
  EXPECT_EQ(LoadError("channel: sms\nbody: Hi\ntitle: x\n"),
            f + ":3:1: 'title' is not a part of an sms template; use body");
  EXPECT_EQ(LoadError("subject: Hi\ntext: x\n"),
            f + ":1:1: 'channel' is required (email, sms, push, webhook or kafka)");
  EXPECT_EQ(LoadError("channel: fax\nbody: x\n"),
            f + ":1:10: unknown channel 'fax'; use email, sms, push, webhook or kafka");
  EXPECT_EQ(LoadError("channel: email\ntext: x\n"), f + ":1:10: an email template needs 'subject'");
  EXPECT_EQ(LoadError("channel: email\nsubject: x\n"),
            f + ":1:10: an email template needs 'text' or 'html' (or both)");
  EXPECT_EQ(LoadError("channel: sms\nbody: a\nbody: b\n"), f + ":3:1: 'body' is given twice");
  EXPECT_THAT(LoadError("channel: sms\nbody: [a\n"), ::testing::StartsWith(f + ":"));
  EXPECT_EQ(LoadError("channel: sms\nbody: {x: 1}\n"),
            f + ":2:7: 'body' is a text (a mustache template)");
  EXPECT_EQ(LoadError("- a\n"),
            f + ":1:1: a template is a mapping: `channel:` and the parts of its message");
}

TEST_F(TemplatesTest, MustacheErrorsPointIntoTheFile) {
  const std::string f = dir() + "/t.yaml";
  // A quoted scalar: the column counts the quote.
  EXPECT_EQ(LoadError("channel: email\nsubject: \"Hi {{name\"\ntext: x\n"),
            f + ":2:14: subject: unclosed tag '{{name'");
  // A block scalar starts on the next line, after its indentation.
  EXPECT_EQ(LoadError("channel: email\nsubject: Hi\ntext: |\n  Hello\n    {{#traits.vip}} VIP\n"
                      "  Bye\n"),
            f + ":5:5: text: section 'traits.vip' is never closed ({{/traits.vip}} is missing)");
  EXPECT_EQ(LoadError("channel: sms\nbody: |\n  a {{#x}} b {{/y}}\n"),
            f + ":3:14: body: '{{/y}}' closes section 'x'; close it with {{/x}}");
  EXPECT_EQ(LoadError("channel: sms\nbody: 'a {{/x}}'\n"),
            f + ":2:10: body: '{{/x}}' closes no section");
  EXPECT_EQ(LoadError("channel: sms\nbody: 'a {{> footer}}'\n"),
            f + ":2:10: body: partials ('{{> footer}}') are not supported");
  EXPECT_EQ(LoadError("channel: sms\nbody: 'a {{=<% =}}'\n"),
            f + ":2:10: body: invalid set-delimiter tag '{{=<% =}}'");
}

TEST_F(TemplatesTest, CollectingKeepsTheGoodOnes) {
  Write("good", "channel: sms\nbody: Hi\n");
  Write("bad", "channel: sms\nbody: '{{x'\n");
  std::vector<std::string> problems;
  int files = 0;
  auto set = TemplateSet::LoadDirCollecting(dir(), &problems, &files);
  EXPECT_EQ(files, 2);
  EXPECT_NE(set->Find("good"), nullptr);
  EXPECT_EQ(set->Find("bad"), nullptr);
  EXPECT_THAT(problems, ElementsAre(dir() + "/bad.yaml:2:8: body: unclosed tag '{{x'"));
}

// ---- rendering

TEST_F(TemplatesTest, RendersTheScope) {
  RenderInput in = Input();
  auto out = Render(
      "channel: email\n"
      "subject: \"{{traits.first_name}}: {{params.discount_percent}}% for {{customer.id}}\"\n"
      "text: |\n"
      "  cart {{event.properties.cart_id}} ({{event.name}}, {{event.ts}})\n"
      "  {{task.task_id}} {{task.journey}} v{{task.version}} {{task.step}} {{task.channel}}\n"
      "  points={{traits.points}} ratio={{traits.ratio}} vip={{traits.vip}} "
      "nl={{traits.newsletter}} nick=[{{traits.nick}}] missing=[{{traits.nope.deeper}}]\n"
      "  {{#traits.vip}}VIP{{/traits.vip}}{{^traits.newsletter}} "
      "no-newsletter{{/traits.newsletter}}"
      "{{#traits.newsletter}} NEWSLETTER{{/traits.newsletter}}{{^traits.tags}} "
      "no-tags{{/traits.tags}}"
      "{{#traits.nick}} NICK{{/traits.nick}}{{^traits.nick}} no-nick{{/traits.nick}}\n"
      "  {{#event.properties.products}}{{qty}}x {{name}}; {{/event.properties.products}}\n"
      "  {{#traits.consent}}email consent={{email}}{{/traits.consent}}\n"
      "  unsub=[{{links.unsubscribe}}] pixel=[{{links.open_pixel}}]\n",
      in);
  EXPECT_EQ(out["subject"], "Zoë: 15% for user-1");
  EXPECT_EQ(out["text"],
            "cart c 1&2 (Product Added, 1793613600000)\n"
            "task-9 cart-abandonment v3 reminder_email email\n"
            "points=1200 ratio=0.5 vip=true nl=false nick=[] missing=[]\n"
            "VIP no-newsletter no-tags no-nick\n"
            "2x Sock; 1x Shoe; \n"
            "email consent=true\n"
            "unsub=[] pixel=[]\n");
}

TEST_F(TemplatesTest, EscapesPerPart) {
  RenderInput in = Input();
  auto out = Render(
      "channel: email\nsubject: \"{{traits.company}}\"\ntext: \"{{traits.company}}\"\n"
      "html: \"<p>{{traits.company}}|{{{traits.company}}}|{{&traits.company}}</p>\"\n",
      in);
  EXPECT_EQ(out["subject"], "Tom & Jerry's <b>");
  EXPECT_EQ(out["text"], "Tom & Jerry's <b>");
  EXPECT_EQ(out["html"],
            "<p>Tom &amp; Jerry&apos;s &lt;b&gt;|Tom & Jerry's <b>|Tom & Jerry's <b></p>");

  in.channel = "webhook";
  in.traits_json = R"({"note":"say \"hi\"\n\\ok"})";
  out = Render(
      "channel: webhook\nbody: '{\"note\": \"{{traits.note}}\", \"n\": "
      "{{params.discount_percent}}}'\n",
      in);
  const auto body = nlohmann::json::parse(out["body"]);
  EXPECT_EQ(body.at("note"), "say \"hi\"\n\\ok");
  EXPECT_EQ(body.at("n"), 15);

  const Status s = RenderError("channel: kafka\nbody: '{\"a\": {{traits.note}}}'\n", in);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("not JSON after rendering"));
}

TEST_F(TemplatesTest, SubjectsAndTitlesAreOneLine) {
  RenderInput in = Input();
  in.traits_json = R"({"first_name":"Eve\r\nBcc: all@example.com"})";
  auto out = Render(
      "channel: email\nsubject: |\n  Hi  {{traits.first_name}},\n  welcome\n"
      "text: |\n  Hi\n  {{traits.first_name}}\n",
      in);
  EXPECT_EQ(out["subject"], "Hi Eve Bcc: all@example.com, welcome");
  EXPECT_EQ(out["text"], "Hi\nEve\r\nBcc: all@example.com\n");
  in.channel = "push";
  out = Render("channel: push\ntitle: \"\\t{{traits.first_name}}\\n\"\nbody: b\n", in);
  EXPECT_EQ(out["title"], "Eve Bcc: all@example.com");
}

TEST_F(TemplatesTest, TrackWithoutATrackerRendersTheLinkItself) {
  RenderInput in = Input();
  auto out = Render(
      "channel: email\nsubject: s\n"
      "text: '{{#track}}https://shop.example/cart/{{event.properties.cart_id}}?a=1&b=2{{/track}}'\n"
      "html: '<a "
      "href=\"{{#track}}https://shop.example/p?a=1&amp;b={{traits.company}}{{/track}}\">x</a>'\n",
      in);
  // Spaces are percent-encoded; in html the link is escaped exactly once.
  EXPECT_EQ(out["text"], "https://shop.example/cart/c%201&2?a=1&b=2");
  EXPECT_EQ(
      out["html"],
      "<a href=\"https://shop.example/p?a=1&amp;b=Tom%20&amp;%20Jerry&apos;s%20&lt;b&gt;\">x</a>");
}

TEST_F(TemplatesTest, TrackSignsTheRenderedUrlUnescaped) {
  const Tracker tracker("https://t.shop.example", kKey);
  RenderInput in = Input();
  in.tracker = &tracker;
  auto out = Render(
      "channel: email\nsubject: s\n"
      "text: '{{#track}} https://shop.example/cart/{{event.properties.cart_id}}?x=1&y=2 "
      "{{/track}}'\n"
      "html: '<html><body><a "
      "href=\"{{#track}}https://shop.example/c?id={{event.properties.cart_id}}"
      "&amp;u={{customer.id}}{{/track}}\">Go</a></body></html>'\n",
      in);
  const std::regex click("https://t\\.shop\\.example/t/c/([A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+)");
  std::smatch m;
  ASSERT_TRUE(std::regex_match(out["text"], m, click)) << out["text"];
  auto claims = tracker.Verify(m[1].str());
  ASSERT_TRUE(claims.ok());
  EXPECT_EQ(claims->url, "https://shop.example/cart/c%201&2?x=1&y=2");
  EXPECT_EQ(claims->task_id, "task-9");
  EXPECT_EQ(claims->customer_id, "user-1");
  EXPECT_EQ(claims->journey, "cart-abandonment");
  EXPECT_EQ(claims->step, "reminder_email");
  EXPECT_EQ(claims->channel, "email");

  // html: the href holds the click URL; its target has '&', not "&amp;".
  const std::regex href("href=\"(https://t\\.shop\\.example/t/c/([A-Za-z0-9_.-]+))\"");
  ASSERT_TRUE(std::regex_search(out["html"], m, href)) << out["html"];
  claims = tracker.Verify(m[2].str());
  ASSERT_TRUE(claims.ok());
  EXPECT_EQ(claims->url, "https://shop.example/c?id=c%201&2&u=user-1");
  EXPECT_EQ(out["html"].find("&amp;amp;"), std::string::npos);
}

TEST_F(TemplatesTest, TrackRefusesWhatIsNotAnHttpLink) {
  RenderInput in = Input();
  for (const char* body :
       {"'{{#track}}javascript:alert(1){{/track}}'", "'{{#track}}{{traits.first_name}}{{/track}}'",
        "'{{#track}}//evil.example{{/track}}'"}) {
    const Status s = RenderError(std::string("channel: sms\nbody: ") + body + "\n", in);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << body;
    EXPECT_THAT(s.message(), HasSubstr("is not an absolute http(s) URL")) << body;
  }
}

TEST_F(TemplatesTest, LinksAndTheOpenPixel) {
  const Tracker tracker("https://t.shop.example", kKey);
  RenderInput in = Input();
  in.tracker = &tracker;
  auto out = Render(
      "channel: email\nsubject: s\ntext: '{{links.unsubscribe}}'\n"
      "html: '<HTML><BODY><p>Hi</p></BODY></HTML>'\n",
      in);
  const std::string unsub = out["text"];
  ASSERT_EQ(unsub.rfind("https://t.shop.example/u/", 0), 0u) << unsub;
  auto claims = tracker.Verify(unsub.substr(std::string("https://t.shop.example/u/").size()));
  ASSERT_TRUE(claims.ok());
  EXPECT_EQ(claims->kind, TrackingClaims::Kind::kUnsubscribe);
  EXPECT_EQ(claims->channel, "email");
  const std::string pixel = tracker.OpenPixelUrl(*claims);
  EXPECT_EQ(out["html"],
            "<HTML><BODY><p>Hi</p><img src=\"" + pixel +
                "\" width=\"1\" height=\"1\" alt=\"\" style=\"display:none\"></BODY></HTML>");

  // Placed by the template already: not added twice.
  out =
      Render("channel: email\nsubject: s\nhtml: '<p><img src=\"{{links.open_pixel}}\"></p>'\n", in);
  EXPECT_EQ(out["html"], "<p><img src=\"" + pixel + "\"></p>");
  // No </body>: appended.
  out = Render("channel: email\nsubject: s\nhtml: '<p>Hi</p>'\n", in);
  EXPECT_EQ(out["html"], "<p>Hi</p><img src=\"" + pixel +
                             "\" width=\"1\" height=\"1\" alt=\"\" style=\"display:none\">");
  // No tracker: no pixel, links are empty.
  in.tracker = nullptr;
  out = Render("channel: email\nsubject: s\nhtml: '<p>Hi</p>[{{links.open_pixel}}]'\n", in);
  EXPECT_EQ(out["html"], "<p>Hi</p>[]");
}

TEST_F(TemplatesTest, RenderRefusesBadInput) {
  RenderInput in = Input();
  in.traits_json = "[1]";
  EXPECT_EQ(RenderError("channel: sms\nbody: x\n", in).code(), StatusCode::kInvalidArgument);
  // A Template built by hand is compiled on the fly.
  Write("r", "channel: sms\nbody: x\n");
  auto set = Load();
  Template t;
  t.name = "hand";
  t.channel = "sms";
  t.parts["body"] = "{{#x}}";
  auto out = set->Render(t, Input());
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("never closed"));
  t.parts["body"] = "Hi {{traits.first_name}}";
  out = set->Render(t, Input());
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->at("body"), "Hi Zoë");
}

// ---- checks against a journey

constexpr char kJourney[] = R"(journey: check-me
version: 1
when:
  event: Product Added
who:
  consent: { email: implied, sms: implied }
steps:
  - id: mail
    send:
      channel: email
      template: mail
      params: { code: X1, show: true }
  - id: mail_again
    send:
      channel: email
      template: mail
      params: { code: X2, extra: yes }
  - id: text
    send:
      channel: sms
      template: text
)";

journey::Journey LoadTestJourney(const std::string& text) {
  auto r = journey::LoadJourney(text, "j.yaml");
  EXPECT_TRUE(r.journey.has_value()) << (r.diagnostics.empty() ? "" : r.diagnostics[0].ToString());
  return r.journey ? *r.journey : journey::Journey{};
}

TEST_F(TemplatesTest, CheckAcceptsWhatTheScopeProvides) {
  Write("mail",
        "channel: email\nsubject: \"{{traits.a.b}} {{event.properties.x}} {{customer.id}}\"\n"
        "text: |\n"
        "  {{params.code}} {{task.task_id}}{{task.version}} {{links.unsubscribe}}\n"
        "  {{#params.extra}}{{params.extra}}{{/params.extra}}\n"
        "  {{#event.properties.items}}{{name}} {{.}}{{/event.properties.items}}\n"
        "  {{#track}}https://shop.example/{{params.code}}{{/track}} {{! a comment }}\n");
  Write("text", "channel: sms\nbody: Hi\n");
  auto set = Load();
  EXPECT_THAT(set->Check(LoadTestJourney(kJourney)), IsEmpty());
}

TEST_F(TemplatesTest, CheckReportsEachProblemAtStepAndTag) {
  const std::string f = dir() + "/mail.yaml";
  Write("mail",
        "channel: email\n"
        "subject: \"{{first_name}}\"\n"  // 2:11
        "text: |\n"
        "  {{params.nope}} {{task.owner}} {{links.home}}\n"                     // 4:3 4:19 4:34
        "  {{customer.email}} {{#track}}https://x.example/{{zzz}}{{/track}}\n"  // 5:3 5:50
        "  {{track}} {{params}} {{.}}\n"                                        // 6:3 6:13 6:24
        "  {{^params.never}}x{{/params.never}}\n");                             // 7:3
  Write("text", "channel: email\nsubject: s\ntext: t\n");
  auto set = Load();
  const auto problems = set->Check(LoadTestJourney(kJourney));
  const std::string mail = "j.yaml:8:5: send step 'mail': ";
  EXPECT_THAT(
      problems,
      ::testing::IsSupersetOf(
          {mail + f +
               ":2:11: no event or profile provides '{{first_name}}'; names start with "
               "traits, customer, event, params, task, links or track",
           mail + f + ":4:3: '{{params.nope}}': the step's params have no 'nope'",
           mail + f +
               ":4:19: '{{task.owner}}': task has task_id, journey, version, step and "
               "channel, not 'owner'",
           mail + f + ":4:34: '{{links.home}}': links has unsubscribe and open_pixel, not 'home'",
           mail + f + ":5:3: '{{customer.email}}': customer has id, not 'email'",
           mail + f +
               ":5:50: no event or profile provides '{{zzz}}'; names start with traits, "
               "customer, event, params, task, links or track",
           mail + f + ":6:3: 'track' is a section around a link: {{#track}}https://...{{/track}}",
           mail + f +
               ":6:13: '{{params}}' is an object; name one of its fields, e.g. "
               "{{params.NAME}}",
           mail + f + ":6:24: '{{.}}' is only meaningful inside a section",
           mail + f + ":7:3: '{{^params.never}}': the step's params have no 'never'",
           "j.yaml:18:5: send step 'text': template 'text' is written for email, the step sends "
           "sms (" +
               dir() + "/text.yaml:1:10)"}));
  // The same tags fail for mail_again too (same template), except none more.
  EXPECT_EQ(problems.size(), 21u) << ::testing::PrintToString(problems);
}

TEST_F(TemplatesTest, CheckParamsPerStep) {
  // mail sets show, mail_again does not: a section may test it (the other
  // step sets it) and use it inside; a bare use needs it in every step.
  Write("mail",
        "channel: email\nsubject: s\ntext: |\n"
        "  {{#params.show}}shown: {{params.show}}{{/params.show}}\n"
        "  {{params.show}}\n");
  Write("text", "channel: sms\nbody: Hi\n");
  auto set = Load();
  EXPECT_THAT(set->Check(LoadTestJourney(kJourney)),
              ElementsAre("j.yaml:13:5: send step 'mail_again': " + dir() +
                          "/mail.yaml:5:3: '{{params.show}}': the step's params have no 'show'"));
}

TEST_F(TemplatesTest, CheckReportsMissingTemplates) {
  Write("mail", "channel: email\nsubject: s\ntext: t\n");
  auto set = Load();
  EXPECT_THAT(set->Check(LoadTestJourney(kJourney)),
              ElementsAre("j.yaml:18:5: send step 'text': no template 'text' (" + dir() +
                          "/text.yaml does not exist)"));
  auto none = TemplateSet::LoadDir(tmp_.Sub("none"));
  ASSERT_TRUE(none.ok());
  const auto problems = (*none)->Check(LoadTestJourney(kJourney));
  ASSERT_EQ(problems.size(), 3u);
  EXPECT_EQ(problems[0], "j.yaml:8:5: send step 'mail': no template 'mail' (no templates dir " +
                             tmp_.Sub("none") + ")");
}

// ---- the shipped templates

TEST(ShippedTemplatesTest, EveryExampleSendStepHasAGoodTemplate) {
  const std::string root = CAIRN_SOURCE_DIR;
  auto set = TemplateSet::LoadDir(root + "/journeys/templates");
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  const auto journeys = journey::LoadJourneyDir(root + "/journeys");
  ASSERT_THAT(journeys.diagnostics, IsEmpty());
  ASSERT_GE(journeys.journeys.size(), 5u);
  const Tracker tracker("https://t.shop.example", kKey);
  int sends = 0;
  for (const auto& j : journeys.journeys) {
    EXPECT_THAT((*set)->Check(j), IsEmpty()) << j.name;
    for (const auto& s : j.steps) {
      if (s.kind != journey::StepKind::kSend) continue;
      ++sends;
      const Template* t = (*set)->Find(s.template_name);
      ASSERT_NE(t, nullptr) << s.template_name;
      for (const char* traits :
           {R"({"first_name":"Maximiliane","member_since":"2019-11-10"})", "{}"}) {
        RenderInput in;
        in.traits_json = traits;
        in.customer_id = "user-with-a-rather-long-id-0001";
        in.event_json =
            R"({"name":"Product Added","type":"track","properties":{"cart_id":"c-1003",)"
            R"("name":"Trail runner"}})";
        in.params_json = s.params_json;
        in.task_id = "0123456789abcdef0123456789abcdef";
        in.journey = j.name;
        in.version = j.version;
        in.step = s.id;
        in.channel = s.channel;
        in.tracker = &tracker;
        auto out = (*set)->Render(*t, in);
        ASSERT_TRUE(out.ok()) << s.template_name << ": " << out.status().ToString();
        const std::string where = s.template_name + " for " + j.name + "/" + s.id;
        if (s.channel == "email") {
          EXPECT_FALSE(out->at("subject").empty()) << where;
          EXPECT_EQ(out->at("subject").find('\n'), std::string::npos) << where;
          ASSERT_TRUE(out->count("text") && out->count("html")) << where;
          for (const char* part : {"text", "html"}) {
            EXPECT_THAT(out->at(part), HasSubstr("https://t.shop.example/u/")) << where;
            EXPECT_THAT(out->at(part), HasSubstr("https://t.shop.example/t/c/")) << where;
            EXPECT_EQ(out->at(part).find("{{"), std::string::npos) << where;
          }
          EXPECT_THAT(out->at("html"), HasSubstr("https://t.shop.example/t/o/")) << where;
        } else if (s.channel == "sms") {
          EXPECT_LE(out->at("body").size(), 160u) << where << ": " << out->at("body");
          for (unsigned char c : out->at("body")) EXPECT_LT(c, 0x80) << where;
        } else if (s.channel == "push") {
          EXPECT_FALSE(out->at("title").empty()) << where;
          EXPECT_FALSE(out->at("body").empty()) << where;
          EXPECT_LE(out->at("title").size(), 65u) << where;
          EXPECT_LE(out->at("body").size(), 178u) << where;
        }
      }
    }
  }
  EXPECT_EQ(sends, 13);
}

}  // namespace
}  // namespace cairn::dispatch
