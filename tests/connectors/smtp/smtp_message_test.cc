// The message builder's pure parts: addresses, encodings, dates, queue ids.
#include "smtp/smtp_message.h"

#include <gtest/gtest.h>

#include "mime_reader.h"

namespace cairn::connectors::smtp {
namespace {

namespace mime = cairn::testing::mime;

std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t nl; (nl = s.find("\r\n", start)) != std::string::npos; start = nl + 2) {
    out.push_back(s.substr(start, nl - start));
  }
  out.push_back(s.substr(start));
  return out;
}

std::string Unfold(std::string s) {
  for (size_t p; (p = s.find("\r\n")) != std::string::npos;) s.erase(p, 2);
  return s;
}

TEST(SmtpAddress, Valid) {
  for (const char* ok : {"a@b", "ada@example.com", "first.last+tag@sub.example.co.uk",
                         "o'brien@example.com", "x_y-z@xn--bcher-kva.example"}) {
    EXPECT_TRUE(IsValidAddress(ok)) << ok;
  }
  for (const char* bad :
       {"", "@example.com", "ada@", "ada", "a b@example.com", "ada@exa mple.com",
        ".ada@example.com", "ada.@example.com", "a..b@example.com", "ada@-example.com",
        "ada@example-.com", "ada@example..com", "ada@exam_ple.com", "ädä@example.com",
        "ada@bücher.example", "<ada@example.com>", "ada@example.com\r\n"}) {
    EXPECT_FALSE(IsValidAddress(bad)) << bad;
  }
  EXPECT_FALSE(IsValidAddress(std::string(65, 'a') + "@example.com"));
}

TEST(SmtpAddress, ParseMailbox) {
  auto m = ParseMailbox("  Cairn Shop <news@shop.example> ");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->name, "Cairn Shop");
  EXPECT_EQ(m->address, "news@shop.example");
  m = ParseMailbox("\"Shop, Inc. \\\"Deals\\\"\" <news@shop.example>");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->name, "Shop, Inc. \"Deals\"");
  m = ParseMailbox("news@shop.example");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->name, "");
  m = ParseMailbox("<news@shop.example>");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->address, "news@shop.example");
  for (const char* bad : {"", "Shop <>", "Shop news@shop.example>", "Sh\"op <a@b.c>",
                          "Shop <a@b.c>\r\nBcc: x@y.z", "Shop <not an address>"}) {
    EXPECT_FALSE(ParseMailbox(bad).ok()) << bad;
  }
}

TEST(SmtpAddress, FormatMailbox) {
  EXPECT_EQ(FormatMailbox({"", "a@b.c"}), "a@b.c");
  EXPECT_EQ(FormatMailbox({"Cairn Shop", "a@b.c"}), "Cairn Shop <a@b.c>");
  EXPECT_EQ(FormatMailbox({"Shop, Inc.", "a@b.c"}), "\"Shop, Inc.\" <a@b.c>");
  EXPECT_EQ(FormatMailbox({"Back\\slash \"q\"", "a@b.c"}), "\"Back\\\\slash \\\"q\\\"\" <a@b.c>");
  const std::string encoded = FormatMailbox({"Zoë", "a@b.c"});
  EXPECT_EQ(encoded, "=?UTF-8?B?Wm/Dqw==?= <a@b.c>");
  EXPECT_EQ(mime::DecodeHeader(encoded), "Zoë <a@b.c>");
}

TEST(SmtpHeader, AsciiIsKeptAndFolded) {
  EXPECT_EQ(EncodeHeaderText("Welcome, Ada", 9), "Welcome, Ada");
  EXPECT_EQ(EncodeHeaderText("", 9), "");
  EXPECT_EQ(EncodeHeaderText("a\r\nb\tc\nd", 9), "a b c d");  // no header injection
  std::string long_text;
  for (int i = 0; i < 40; ++i) long_text += "lorem" + std::to_string(i) + " ";
  const std::string folded = EncodeHeaderText(long_text, 9);
  EXPECT_EQ(Unfold(folded), long_text);
  const auto lines = Lines(folded);
  EXPECT_GT(lines.size(), 1u);
  for (size_t i = 0; i < lines.size(); ++i) {
    EXPECT_LE(lines[i].size() + (i == 0 ? 9 : 0), 78u) << lines[i];
    if (i > 0) {
      EXPECT_EQ(lines[i][0], ' ');
    }
  }
  // A word that cannot fit in 998 octets is encoded instead.
  const std::string huge(1200, 'z');
  const std::string enc = EncodeHeaderText(huge, 9);
  EXPECT_EQ(enc.rfind("=?UTF-8?B?", 0), 0u);
  EXPECT_EQ(mime::DecodeHeader(Unfold(enc)), huge);
  // Text that looks like an encoded word is encoded, so it reads back as itself.
  EXPECT_EQ(mime::DecodeHeader(EncodeHeaderText("=?UTF-8?B?eA==?=", 9)), "=?UTF-8?B?eA==?=");
}

TEST(SmtpHeader, NonAsciiBecomesEncodedWordsOnCharacterBoundaries) {
  std::string text;
  for (int i = 0; i < 30; ++i) text += "Grüße 🎉 ";
  for (size_t prefix : {9u, 17u, 70u}) {
    const std::string enc = EncodeHeaderText(text, prefix);
    const auto lines = Lines(enc);
    for (size_t i = 0; i < lines.size(); ++i) {
      EXPECT_LE(lines[i].size() + (i == 0 ? prefix : 0), 76u) << lines[i];
      // A prefix too long for a word: the value starts on the next line.
      if (i == 0 && prefix > 60) {
        EXPECT_EQ(lines[0], "");
        continue;
      }
      // Each word decodes to valid UTF-8 on its own: no split sequence.
      const std::string word = mime::DecodeHeader(lines[i]);
      ASSERT_FALSE(word.empty());
      EXPECT_NE(static_cast<unsigned char>(word[0]) & 0xC0, 0x80u) << i;
    }
    std::string unfolded = Unfold(enc);
    unfolded.erase(0, unfolded.find_first_not_of(' '));  // FWS after "Name:"
    EXPECT_EQ(mime::DecodeHeader(unfolded), text);
  }
}

TEST(SmtpBody, QuotedPrintable) {
  EXPECT_EQ(QuotedPrintable("abc"), "abc");
  EXPECT_EQ(QuotedPrintable("a=b"), "a=3Db");
  EXPECT_EQ(QuotedPrintable("trailing \nx"), "trailing=20\r\nx");
  EXPECT_EQ(QuotedPrintable("tab\t"), "tab=09");
  EXPECT_EQ(QuotedPrintable("ü"), "=C3=BC");
  EXPECT_EQ(QuotedPrintable(".\n.x"), "=2E\r\n=2Ex");
  EXPECT_EQ(QuotedPrintable("a\r\nb\rc"), "a\r\nb\r\nc");
  const std::string long_line(500, 'q');
  const std::string qp = QuotedPrintable(long_line + "=é");
  for (const auto& line : Lines(qp)) EXPECT_LE(line.size(), 76u);
  std::string lf = qp;
  for (size_t p; (p = lf.find("\r\n")) != std::string::npos;) lf.replace(p, 2, "\n");
  EXPECT_EQ(mime::DecodeQuotedPrintable(lf), long_line + "=é");
  // "=_" never appears, so it can start the multipart boundary.
  EXPECT_EQ(QuotedPrintable("=_cairn_ =_").find("=_"), std::string::npos);
}

TEST(SmtpBody, Base64) {
  EXPECT_EQ(Base64(""), "");
  EXPECT_EQ(Base64("f"), "Zg==");
  EXPECT_EQ(Base64("fo"), "Zm8=");
  EXPECT_EQ(Base64("foo"), "Zm9v");
  EXPECT_EQ(Base64("foobar"), "Zm9vYmFy");
  const std::string data(200, '\xff');
  const std::string wrapped = Base64(data, 76);
  for (const auto& line : Lines(wrapped)) EXPECT_LE(line.size(), 76u);
  EXPECT_EQ(mime::DecodeBase64(wrapped), data);
}

TEST(SmtpMisc, DateMessageIdQueueId) {
  // 2006-01-02T15:04:05Z was a Monday.
  EXPECT_EQ(Rfc5322Date(std::chrono::system_clock::from_time_t(1136214245)),
            "Mon, 2 Jan 2006 15:04:05 +0000");
  EXPECT_EQ(MessageIdLocalPart("3f2a9c0d41e5b6a78899aabbccddeeff"),
            "3f2a9c0d41e5b6a78899aabbccddeeff");
  EXPECT_EQ(MessageIdLocalPart("a.b@c d%<>"), "a%2Eb%40c%20d%25%3C%3E");
  EXPECT_EQ(QueueIdFromReply("250 2.0.0 Ok: queued as 4F3xQ1abcZ"), "4F3xQ1abcZ");
  EXPECT_EQ(QueueIdFromReply("250 OK id=1rAbCd-000Ef-Gh"), "1rAbCd-000Ef-Gh");
  EXPECT_EQ(QueueIdFromReply("250 2.0.0 Ok"), "");
  EXPECT_EQ(QueueIdFromReply("250-first\n250 2.0.0 OK: Queued as ABC123\r\n"), "ABC123");
}

TEST(SmtpMessage, BuildRefusesWhatCannotBeSent) {
  EmailParts p;
  p.from = {"", "a@b.c"};
  p.to = {"", "x@y.z"};
  p.task_id = "t1";
  p.message_id_domain = "cairn.local";
  EXPECT_FALSE(BuildMessage(p).ok());  // no body
  p.has_text = true;
  p.text = "hi";
  EXPECT_TRUE(BuildMessage(p).ok());
  p.unsubscribe_url = "https://x.example/u?a=1 b";
  EXPECT_FALSE(BuildMessage(p).ok());
  p.unsubscribe_url = "https://x.example/u>\r\nBcc: v@x.example";
  EXPECT_FALSE(BuildMessage(p).ok());
  p.unsubscribe_url.clear();
  p.task_id.clear();
  EXPECT_FALSE(BuildMessage(p).ok());
}

TEST(SmtpMessage, SevenBitCrlfAndShortLines) {
  EmailParts p;
  p.from = {"Shöp", "a@b.c"};
  p.to = {"Zoë", "x@y.z"};
  p.subject = "Grüße";
  p.has_text = p.has_html = true;
  p.text = std::string(5000, 'x') + "\nzweite Zeile ü\n";
  p.html = "<p>" + std::string(3000, 'y') + "</p>";
  p.task_id = "t1";
  p.message_id_domain = "cairn.local";
  p.journey = "wëlcome";
  p.step = "s1";
  p.unsubscribe_url = "https://x.example/u/t1";
  auto m = BuildMessage(p);
  ASSERT_TRUE(m.ok());
  for (size_t i = 0; i < m->size(); ++i) {
    const auto c = static_cast<unsigned char>((*m)[i]);
    ASSERT_LT(c, 0x80u) << "8-bit octet at " << i;
    if (c == '\n') {
      ASSERT_EQ((*m)[i - 1], '\r') << "bare LF at " << i;
    }
    if (c == '\r') {
      ASSERT_EQ((*m)[i + 1], '\n') << "bare CR at " << i;
    }
  }
  for (const auto& line : Lines(*m)) EXPECT_LE(line.size(), 998u);
  EXPECT_NE(m->find("List-Unsubscribe: <https://x.example/u/t1>\r\n"), std::string::npos);
  EXPECT_NE(m->find("List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"), std::string::npos);
}

}  // namespace
}  // namespace cairn::connectors::smtp
