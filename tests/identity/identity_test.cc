// engine/identity: which ids a event links, what a claim node decides, when
// two identified profiles are refused, and the merge rules of Fold.
#include "identity/identity.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cairn/base64.h"
#include "governance/governor.h"

namespace cairn::identity {
namespace {

using nlohmann::json;

Event Identify(std::string user, std::string anon, std::string traits = "{}") {
  Event e;
  e.type = EventType::kIdentify;
  e.user_id = std::move(user);
  e.anonymous_id = std::move(anon);
  e.name = "Identify";
  e.traits_json = std::move(traits);
  return e;
}

v1::CustomerState Customer(const std::string& id, bool identified = false) {
  v1::CustomerState c;
  c.set_id(id);
  c.mutable_identity()->set_identified(identified);
  return c;
}

TEST(NewLinksTest, AnonymousIdOfAnIdentifiedEventIsLinkedOnce) {
  Options o;
  auto c = Customer("u1");
  auto links = NewLinks(o, Identify("u1", "a1"), c);
  EXPECT_EQ(links.ids, std::vector<std::string>{"a1"});
  EXPECT_TRUE(c.identity().identified());
  // The same pair again asks nothing.
  EXPECT_TRUE(NewLinks(o, Identify("u1", "a1"), c).empty());
  // An anonymous-only event is keyed by its anonymousId: nothing to link.
  auto a = Customer("a2");
  Event track;
  track.type = EventType::kTrack;
  track.anonymous_id = "a2";
  EXPECT_TRUE(NewLinks(o, track, a).empty());
  EXPECT_FALSE(a.identity().identified());
}

TEST(NewLinksTest, AliasAndNormalizedIdentifierClaims) {
  Options o;
  auto c = Customer("u1");
  c.set_traits_json(R"({"email":"  Ada@Example.COM ","phone":"+49 (30) 1234-567","crm_id":"x"})");
  Event alias;
  alias.type = EventType::kAlias;
  alias.user_id = "u1";
  alias.previous_id = "old-1";
  auto links = NewLinks(o, alias, c);
  EXPECT_EQ(links.alias_id, "old-1");
  EXPECT_TRUE(links.nodes.empty()) << "claims come from identify only";

  auto id = NewLinks(o, Identify("u1", ""), c);
  // Keys carry the suppression list's digests, never the address.
  EXPECT_EQ(id.nodes,
            (std::vector<std::string>{"$id:email:" + governance::HashEmail("ada@example.com"),
                                      "$id:phone:" + governance::HashPhone("+49301234567")}));
  o.identifiers.push_back("crm_id");
  auto more = NewLinks(o, Identify("u1", ""), c);
  EXPECT_EQ(more.nodes, std::vector<std::string>{"$id:crm_id:" + governance::Sha256Hex("x")});
  // Garbage never crashes and claims nothing.
  auto g = Customer("u2");
  g.set_traits_json(R"({"email": 42, "phone": "12"})");
  EXPECT_TRUE(NewLinks(o, Identify("u2", ""), g).nodes.empty());
  g.set_traits_json("not json");
  EXPECT_TRUE(NewLinks(o, Identify("u2", ""), g).nodes.empty());
}

TEST(ClaimTest, IdentifiedWinsFirstAnonymousOwnerWinsIdentifiedPairsAreRefused) {
  Options o;
  v1::CustomerState node = Customer("$id:email:a@x");
  auto d = DecideClaim(o, node, {"anon-1", false, false, 0});
  EXPECT_TRUE(d.changed);
  EXPECT_TRUE(d.loser.empty());
  EXPECT_EQ(node.identity().forwarded_to(), "anon-1");
  EXPECT_TRUE(node.identity().node());
  // A second anonymous claimant merges into the first.
  d = DecideClaim(o, node, {"anon-2", false, false, 0});
  EXPECT_EQ(d.loser, "anon-2");
  EXPECT_EQ(d.winner, "anon-1");
  // An identified claimant takes the node; the anonymous owner merges into it.
  d = DecideClaim(o, node, {"user-1", false, true, 0});
  EXPECT_EQ(d.loser, "anon-1");
  EXPECT_EQ(d.winner, "user-1");
  EXPECT_TRUE(d.winner_identified);
  EXPECT_EQ(node.identity().forwarded_to(), "user-1");
  // A replay of the owner's claim changes nothing.
  d = DecideClaim(o, node, {"user-1", false, true, 0});
  EXPECT_FALSE(d.changed);
  EXPECT_TRUE(d.loser.empty());
  // Another identified profile with the same e-mail: refused by default.
  d = DecideClaim(o, node, {"user-2", false, true, 0});
  EXPECT_TRUE(d.loser.empty());
  EXPECT_NE(d.refused.find("both identified"), std::string::npos) << d.refused;
  EXPECT_EQ(node.identity().forwarded_to(), "user-1");
  o.merge_identified = MergeIdentified::kAlways;
  d = DecideClaim(o, node, {"user-2", false, true, 0});
  EXPECT_EQ(d.loser, "user-2");
  EXPECT_EQ(d.winner, "user-1");
}

TEST(RefuseLinkTest, MergeIdentifiedPolicy) {
  Options o;
  const auto anon = Customer("a", false);
  const auto known = Customer("k", true);
  const Request by_identify{"u", false, true, 0};
  const Request by_alias{"u", true, true, 0};
  EXPECT_EQ(RefuseLink(o, anon, by_identify), "");
  EXPECT_NE(RefuseLink(o, known, by_identify), "");
  EXPECT_EQ(RefuseLink(o, known, by_alias), "") << "alias is an explicit instruction";
  o.merge_identified = MergeIdentified::kNever;
  EXPECT_NE(RefuseLink(o, known, by_alias), "");
  EXPECT_EQ(RefuseLink(o, anon, by_alias), "");
  o.merge_identified = MergeIdentified::kAlways;
  EXPECT_EQ(RefuseLink(o, known, by_identify), "");
}

TEST(FoldTest, TraitsCountsConsentAndIds) {
  Options o;
  o.dedup_window = 4;
  auto from = Customer("a");
  from.set_traits_json(
      R"({"name":"anon","city":"Lyon","consent":{"email":false,"sms":true,"push":true}})");
  from.set_first_seen_ms(100);
  from.set_last_seen_ms(500);
  from.set_events_total(3);
  auto* pv = from.add_events();
  pv->set_name("Product Viewed");
  pv->set_count(3);
  pv->set_first_at_ms(100);
  pv->set_last_at_ms(500);
  (*pv->mutable_sums())["price"] = 30;
  from.add_labels("newsletter");
  for (uint64_t h : {1, 2, 3}) from.add_recent_message_ids(h);
  from.mutable_identity()->add_linked("a0");
  from.mutable_identity()->add_merged_from("a0");

  auto into = Customer("u", true);
  into.set_traits_json(R"({"name":"Ada","consent":{"email":true,"sms":false}})");
  into.set_first_seen_ms(300);
  into.set_last_seen_ms(400);
  into.set_events_total(2);
  auto* pv2 = into.add_events();
  pv2->set_name("Product Viewed");
  pv2->set_count(2);
  pv2->set_first_at_ms(300);
  pv2->set_last_at_ms(400);
  (*pv2->mutable_sums())["price"] = 5;
  into.add_labels("vip");
  for (uint64_t h : {3, 4, 5}) into.add_recent_message_ids(h);
  into.set_catalog_generation(7);

  Fold(o, from, into);
  const json t = json::parse(into.traits_json());
  EXPECT_EQ(t["name"], "Ada") << "the survivor's traits win";
  EXPECT_EQ(t["city"], "Lyon") << "traits it lacked are taken";
  EXPECT_EQ(t["consent"]["email"], false) << "stricter: one said no";
  EXPECT_EQ(t["consent"]["sms"], false);
  EXPECT_EQ(t["consent"]["push"], true) << "only one stated it";
  EXPECT_EQ(into.events_total(), 5u);
  EXPECT_EQ(into.first_seen_ms(), 100);
  EXPECT_EQ(into.last_seen_ms(), 500);
  ASSERT_EQ(into.events_size(), 1);
  EXPECT_EQ(into.events(0).count(), 5u);
  EXPECT_EQ(into.events(0).first_at_ms(), 100);
  EXPECT_EQ(into.events(0).last_at_ms(), 500);
  EXPECT_EQ(into.events(0).sums().at("price"), 35);
  EXPECT_EQ(into.labels_size(), 2);
  // Union of both windows, the survivor's newest last, bounded.
  EXPECT_EQ(
      std::vector<uint64_t>(into.recent_message_ids().begin(), into.recent_message_ids().end()),
      (std::vector<uint64_t>{2, 3, 4, 5}));
  EXPECT_EQ(into.catalog_generation(), 0u) << "triggers are re-armed from the merged record";
  EXPECT_EQ(std::vector<std::string>(into.identity().merged_from().begin(),
                                     into.identity().merged_from().end()),
            (std::vector<std::string>{"a", "a0"}));
  EXPECT_TRUE(into.identity().identified());
}

TEST(FoldTest, InFlightInstancesOfOneJourneyAreDeduplicatedOthersRenumbered) {
  Options o;
  auto from = Customer("a");
  auto add = [](v1::CustomerState& c, const std::string& j, uint64_t id, bool done) {
    auto* i = c.add_instances();
    i->set_journey(j);
    i->set_id(id);
    i->set_done(done);
    i->set_wait_due_ms(1000);
    i->set_wait_tag(99);
    auto* e = c.add_journey_entries();
    e->set_journey(j);
    e->set_entries(id);
    e->set_last_entered_ms(static_cast<int64_t>(id) * 10);
  };
  add(from, "cart", 1, false);     // the survivor runs cart too: dropped
  add(from, "welcome", 2, false);  // the survivor ran welcome once: moved as #2
  auto* d = from.add_deferred();
  d->set_journey("welcome");
  d->set_instance(2);
  d->set_step("mail");
  auto* stale = from.add_deferred();
  stale->set_journey("cart");
  stale->set_instance(1);

  auto into = Customer("u", true);
  add(into, "cart", 3, false);
  auto* e = into.add_journey_entries();
  e->set_journey("welcome");
  e->set_entries(1);  // finished and forgotten: its id 1 must not be reused

  auto r = Fold(o, from, into);
  EXPECT_EQ(r.deduplicated, std::vector<std::string>{"cart"});
  ASSERT_EQ(r.moved.size(), 1u);
  const auto& moved = into.instances(r.moved[0]);
  EXPECT_EQ(moved.journey(), "welcome");
  EXPECT_EQ(moved.id(), 2u);
  EXPECT_EQ(moved.wait_tag(), 0u) << "the runtime re-arms it";
  ASSERT_EQ(into.deferred_size(), 1) << "the dropped instance's deferred send goes with it";
  EXPECT_EQ(into.deferred(0).instance(), 2u);
  for (const auto& je : into.journey_entries()) {
    if (je.journey() == "welcome") EXPECT_EQ(je.entries(), 3u);
    if (je.journey() == "cart") EXPECT_EQ(je.entries(), 4u);
  }
}

TEST(RecordsTest, MergeRoundTripsAndGarbageIsAnError) {
  v1::IdentityMerge m;
  m.set_from("a");
  m.set_into("u");
  m.set_hops(2);
  m.mutable_state()->set_id("a");
  m.mutable_state()->set_events_total(9);
  auto rec = MergeRecord("cairn.events", m, 1000);
  EXPECT_EQ(rec.key(), "u");
  const json j = json::parse(rec.value());
  EXPECT_EQ(j["event"], kMergeEvent);
  Event e;
  e.name = std::string(kMergeEvent);
  e.properties_json = j["properties"].dump();
  ASSERT_EQ(KindOf(e), Kind::kMerge);
  auto back = ParseMerge(e);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->state().events_total(), 9u);
  EXPECT_EQ(back->hops(), 2u);

  for (const char* props : {"{}", R"({"state":1})", R"({"state":"!!"})", R"({"state":"AAAA"})"}) {
    e.properties_json = props;
    EXPECT_FALSE(ParseMerge(e).ok()) << props;
  }
  Event link;
  link.name = std::string(kLinkEvent);
  link.properties_json = R"({"into": ""})";
  EXPECT_FALSE(ParseRequest(link).ok());
  link.properties_json = "[";
  EXPECT_FALSE(ParseRequest(link).ok());
  Event plain;
  plain.name = "$cairn.identity.other";
  EXPECT_EQ(KindOf(plain), Kind::kNone);
}

TEST(RecordsTest, ForwardKeepsTheEventAndRekeysIt) {
  Event e;
  e.type = EventType::kTrack;
  e.anonymous_id = "a";
  e.name = "Product Viewed";
  e.message_id = "m-1";
  e.timestamp_ms = 1767225600000;
  e.properties_json = R"({"price":3})";
  auto rec = ForwardRecord("cairn.events", e, "u", "fallback");
  EXPECT_EQ(rec.key(), "u");
  const json j = json::parse(rec.value());
  EXPECT_FALSE(j.contains("userId")) << "an anonymous event stays anonymous";
  EXPECT_EQ(j["anonymousId"], "u");
  EXPECT_EQ(j["event"], "Product Viewed");
  EXPECT_EQ(j["messageId"], "m-1");
  EXPECT_EQ(j["properties"]["price"], 3);
  EXPECT_EQ(j["timestamp"], "2026-01-01T00:00:00.000Z");
  EXPECT_EQ(j["context"]["cairn"]["forwarded_from"], "a");
  e.message_id.clear();
  EXPECT_EQ(json::parse(ForwardRecord("t", e, "u", "fwd:t:1:7").value())["messageId"], "fwd:t:1:7");
  // An old account's event keeps being a userId event, of the survivor.
  e.user_id = "old";
  const json k = json::parse(ForwardRecord("t", e, "u", "x").value());
  EXPECT_EQ(k["userId"], "u");
  EXPECT_EQ(k["anonymousId"], "a");
}

TEST(NewLinksTest, CairnsOwnEventsDoNotMakeAProfileIdentified) {
  Options o;
  auto a = Customer("anon-1");
  Event own;
  own.type = EventType::kTrack;
  own.user_id = "anon-1";  // profile and outcome events address everyone by userId
  own.name = "Lifecycle Stage Changed";
  own.context_json = R"({"cairn":{"source":"profile"}})";
  EXPECT_TRUE(NewLinks(o, own, a).empty());
  EXPECT_FALSE(a.identity().identified());
  own.context_json = R"({"locale":"en"})";
  (void)NewLinks(o, own, a);
  EXPECT_TRUE(a.identity().identified());
}

}  // namespace
}  // namespace cairn::identity
