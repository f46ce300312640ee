// Tracking tokens (engine/dispatch/tracking.h): format, signing, and every
// way Verify must refuse a token.
#include "dispatch/tracking.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <nlohmann/json.hpp>

namespace cairn::dispatch {
namespace {

constexpr char kKey[] = "0123456789abcdef-test-key";

TrackingClaims Ref() {
  TrackingClaims c;
  c.task_id = "t-42";
  c.customer_id = "user-1";
  c.journey = "cart-abandonment";
  c.step = "reminder_email";
  c.channel = "email";
  return c;
}

std::string TokenOf(const std::string& url, const std::string& prefix) {
  EXPECT_EQ(url.rfind(prefix, 0), 0u) << url;
  return url.substr(prefix.size());
}

TEST(Base64UrlTest, Rfc4648VectorsWithoutPadding) {
  const std::pair<std::string, std::string> vectors[] = {
      {"", ""},           {"f", "Zg"},          {"fo", "Zm8"},         {"foo", "Zm9v"},
      {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, coded] : vectors) {
    EXPECT_EQ(Base64UrlEncode(plain), coded);
    auto back = Base64UrlDecode(coded);
    ASSERT_TRUE(back.ok()) << coded;
    EXPECT_EQ(*back, plain);
  }
  // The URL alphabet: '-' and '_' instead of '+' and '/'.
  EXPECT_EQ(Base64UrlEncode("\xfb\xff"), "-_8");
  EXPECT_FALSE(Base64UrlDecode("+/8").ok());
  EXPECT_FALSE(Base64UrlDecode("Zm9v=").ok());  // no padding
  EXPECT_FALSE(Base64UrlDecode("Z").ok());      // impossible length
  EXPECT_FALSE(Base64UrlDecode("Zh").ok());     // non-canonical: trailing bits set
}

TEST(TrackerTest, RoundTripsEveryKind) {
  const Tracker t("https://t.shop.example", kKey);
  const auto open = Ref();
  auto url = t.OpenPixelUrl(open);
  auto c = t.Verify(TokenOf(url, "https://t.shop.example/t/o/"));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->kind, TrackingClaims::Kind::kOpen);
  EXPECT_EQ(c->task_id, "t-42");
  EXPECT_EQ(c->customer_id, "user-1");
  EXPECT_EQ(c->journey, "cart-abandonment");
  EXPECT_EQ(c->step, "reminder_email");
  EXPECT_EQ(c->channel, "email");
  EXPECT_EQ(c->url, "");

  url = t.ClickUrl(Ref(), "https://shop.example/cart/c-1?a=1&b=%C3%A9");
  c = t.Verify(TokenOf(url, "https://t.shop.example/t/c/"));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->kind, TrackingClaims::Kind::kClick);
  EXPECT_EQ(c->url, "https://shop.example/cart/c-1?a=1&b=%C3%A9");

  url = t.UnsubscribeUrl(Ref());
  c = t.Verify(TokenOf(url, "https://t.shop.example/u/"));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->kind, TrackingClaims::Kind::kUnsubscribe);

  url = t.StatusCallbackUrl(Ref(), "twilio eu");
  c = t.Verify(TokenOf(url, "https://t.shop.example/hooks/sms/twilio%20eu?t="));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->kind, TrackingClaims::Kind::kStatus);
}

TEST(TrackerTest, BaseUrlLosesItsTrailingSlash) {
  const Tracker t("https://t.shop.example/cairn//", kKey);
  EXPECT_EQ(t.base_url(), "https://t.shop.example/cairn");
  EXPECT_EQ(t.OpenPixelUrl(Ref()).rfind("https://t.shop.example/cairn/t/o/", 0), 0u);
}

TEST(TrackerTest, CreateChecksKeyAndBaseUrl) {
  EXPECT_TRUE(Tracker::Create("https://t.shop.example", kKey).ok());
  EXPECT_FALSE(Tracker::Create("https://t.shop.example", "short").ok());
  EXPECT_FALSE(Tracker::Create("t.shop.example", kKey).ok());
  EXPECT_FALSE(Tracker::Create("https://t.shop.example/?x=1", kKey).ok());
  EXPECT_FALSE(Tracker::Create("ftp://t.shop.example", kKey).ok());
}

// What docs/templates.md tells a receiver: split at '.', base64url-decode
// both halves, HMAC-SHA256(key, claims bytes) must equal the signature, the
// claims are JSON with one-letter keys.
TEST(TrackerTest, AReceiverCanVerifyByTheDocumentedFormat) {
  const Tracker t("https://t.shop.example", kKey);
  const std::string token =
      TokenOf(t.ClickUrl(Ref(), "https://shop.example/x"), "https://t.shop.example/t/c/");
  const size_t dot = token.find('.');
  ASSERT_NE(dot, std::string::npos);
  auto claims = Base64UrlDecode(token.substr(0, dot));
  auto sig = Base64UrlDecode(token.substr(dot + 1));
  ASSERT_TRUE(claims.ok() && sig.ok());
  unsigned char mac[32];
  unsigned int len = 0;
  HMAC(EVP_sha256(), kKey, static_cast<int>(sizeof(kKey) - 1),
       reinterpret_cast<const unsigned char*>(claims->data()), claims->size(), mac, &len);
  ASSERT_EQ(len, 32u);
  EXPECT_EQ(*sig, std::string(reinterpret_cast<const char*>(mac), len));
  const auto j = nlohmann::json::parse(*claims);
  EXPECT_EQ(j.at("k"), "c");
  EXPECT_EQ(j.at("t"), "t-42");
  EXPECT_EQ(j.at("u"), "user-1");
  EXPECT_EQ(j.at("j"), "cart-abandonment");
  EXPECT_EQ(j.at("s"), "reminder_email");
  EXPECT_EQ(j.at("c"), "email");
  EXPECT_EQ(j.at("l"), "https://shop.example/x");
}

TEST(TrackerTest, RefusesTamperedAndForgedTokens) {
  const Tracker t("https://t.shop.example", kKey);
  const std::string token =
      TokenOf(t.ClickUrl(Ref(), "https://shop.example/x"), "https://t.shop.example/t/c/");
  const size_t dot = token.find('.');
  ASSERT_TRUE(t.Verify(token).ok());

  // Claims changed (another target), signature kept: bad signature.
  auto claims = nlohmann::json::parse(*Base64UrlDecode(token.substr(0, dot)));
  claims["l"] = "https://evil.example/phish";
  const std::string tampered = Base64UrlEncode(claims.dump()) + token.substr(dot);
  auto r = t.Verify(tampered);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);

  // Every single-character change anywhere is refused.
  for (size_t i = 0; i < token.size(); ++i) {
    std::string bad = token;
    bad[i] = bad[i] == 'A' ? 'B' : 'A';
    if (bad == token) continue;
    EXPECT_FALSE(t.Verify(bad).ok()) << "position " << i;
  }

  // Signed with another key.
  const Tracker other("https://t.shop.example", "another-key-0123456789");
  r = t.Verify(
      TokenOf(other.ClickUrl(Ref(), "https://shop.example/x"), "https://t.shop.example/t/c/"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);

  // Malformed.
  for (std::string bad :
       {std::string(), std::string("abc"), std::string("a.b.c"), token.substr(0, dot),
        token.substr(0, dot + 1), std::string("!!!") + token.substr(dot), token + "=",
        std::string(kMaxTrackingTokenBytes + 1, 'A')}) {
    r = t.Verify(bad);
    ASSERT_FALSE(r.ok()) << bad;
  }
  r = t.Verify(std::string(5000, 'A') + "." + std::string(43, 'A'));
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
}

TEST(TrackerTest, AClickTokenMustCarryAnHttpTarget) {
  const Tracker t("https://t.shop.example", kKey);
  for (const char* target :
       {"javascript:alert(1)", "//evil.example", "data:text/html,x", "https://",
        "https://ok.example/a\r\nSet-Cookie: x=1", "https://ok.example/a b", ""}) {
    const std::string token = TokenOf(t.ClickUrl(Ref(), target), "https://t.shop.example/t/c/");
    auto r = t.Verify(token);
    ASSERT_FALSE(r.ok()) << target;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << target;
  }
  // Other kinds carry no url; a task and a customer are required.
  TrackingClaims c = Ref();
  c.kind = TrackingClaims::Kind::kOpen;
  c.url = "https://shop.example/";
  EXPECT_FALSE(t.Verify(t.Sign(c)).ok());
  c = Ref();
  c.task_id.clear();
  EXPECT_FALSE(t.Verify(t.Sign(c)).ok());
  c = Ref();
  c.customer_id.clear();
  EXPECT_FALSE(t.Verify(t.Sign(c)).ok());
}

TEST(IsHttpUrlTest, AcceptsOnlyAbsoluteHttpUrls) {
  EXPECT_TRUE(IsHttpUrl("https://shop.example"));
  EXPECT_TRUE(IsHttpUrl("HTTP://shop.example/a?b=c#d"));
  EXPECT_FALSE(IsHttpUrl("https:///path"));
  EXPECT_FALSE(IsHttpUrl("mailto:a@b.example"));
  EXPECT_FALSE(IsHttpUrl("https://shop.example/\x7f"));
  EXPECT_FALSE(IsHttpUrl("https://shop.example/\t"));
}

}  // namespace
}  // namespace cairn::dispatch
