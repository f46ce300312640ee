// Label rows, label files and the Labels Updated event (engine/labels), without Kafka.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "labels/label_file.h"
#include "labels/label_rows.h"
#include "test_support.h"

namespace cairn::labels {
namespace {

using ::testing::HasSubstr;

LabelRow Row(std::string id, std::set<std::string> add, std::set<std::string> remove = {}) {
  return {std::move(id), std::move(add), std::move(remove)};
}

std::string ReasonOf(const std::variant<LabelRow, Rejection>& r) {
  const auto* bad = std::get_if<Rejection>(&r);
  return bad == nullptr ? "" : bad->reason;
}

TEST(LabelRowsTest, ValidLabels) {
  for (const std::string& ok : std::vector<std::string>{"vip", "a", "tier:gold", "churn-risk_2",
                                                        "x.y", std::string(64, 'z')}) {
    EXPECT_TRUE(ValidLabel(ok)) << ok;
  }
  for (const std::string& bad : std::vector<std::string>{"", "VIP", "has space", "\u00e9", "a,b",
                                                         "a;b", std::string(65, 'z')}) {
    EXPECT_FALSE(ValidLabel(bad)) << bad;
  }
}

TEST(LabelRowsTest, ValidateRow) {
  EXPECT_FALSE(ValidateRow(Row("u1", {"vip"})).has_value());
  EXPECT_FALSE(ValidateRow(Row("u1", {}, {"churned"})).has_value());
  EXPECT_EQ(ValidateRow(Row("", {"vip"}))->reason, kMissingId);
  EXPECT_EQ(ValidateRow(Row(std::string(257, 'u'), {"vip"}))->reason, kInvalidId);
  EXPECT_EQ(ValidateRow(Row("u\n1", {"vip"}))->reason, kInvalidId);
  EXPECT_FALSE(ValidateRow(Row("caf\xc3\xa9-\xe2\x82\xac-\xf0\x9f\x98\x80", {"vip"})).has_value());
  for (const char* bad : {"u\xff", "u\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80"}) {
    EXPECT_EQ(ValidateRow(Row(bad, {"vip"}))->reason, kInvalidId) << bad;
  }
  EXPECT_EQ(ValidateRow(Row("u1", {"Vip"}))->reason, kInvalidLabel);
  EXPECT_THAT(ValidateRow(Row("u1", {"Vip"}))->message, HasSubstr("\"Vip\""));
  EXPECT_EQ(ValidateRow(Row("u1", {}))->reason, kNoLabels);
  EXPECT_EQ(ValidateRow(Row("u1", {"vip"}, {"vip"}))->reason, kLabelConflict);
}

TEST(LabelRowsTest, RowFromJson) {
  auto r = RowFromJsonText(R"({"customer_id":"u1","add":["vip","gold"],"remove":["churned"]})");
  ASSERT_TRUE(std::holds_alternative<LabelRow>(r));
  EXPECT_EQ(std::get<LabelRow>(r).add, (std::set<std::string>{"gold", "vip"}));
  EXPECT_EQ(std::get<LabelRow>(r).remove, (std::set<std::string>{"churned"}));
  r = RowFromJsonText(R"({"user_id":"u2","label":"vip"})");
  ASSERT_TRUE(std::holds_alternative<LabelRow>(r));
  EXPECT_EQ(std::get<LabelRow>(r).customer_id, "u2");

  EXPECT_EQ(ReasonOf(RowFromJsonText(R"({"customer_id":"u1","add":["vip"])")), kBadJson);
  EXPECT_EQ(ReasonOf(RowFromJsonText(R"([1,2])")), kBadRow);
  EXPECT_EQ(ReasonOf(RowFromJsonText(R"({"add":["vip"]})")), kMissingId);
  EXPECT_EQ(ReasonOf(RowFromJsonText(R"({"customer_id":null,"add":["vip"]})")), kMissingId);
  EXPECT_EQ(ReasonOf(RowFromJsonText(R"({"customer_id":7,"add":["vip"]})")), kInvalidId);
  EXPECT_EQ(ReasonOf(RowFromJsonText(R"({"customer_id":"u","add":"vip"})")), kInvalidLabel);
  EXPECT_EQ(ReasonOf(RowFromJsonText(R"({"customer_id":"u","add":[1]})")), kInvalidLabel);
  EXPECT_EQ(ReasonOf(RowFromJsonText(R"({"customer_id":"u","label":""})")), kInvalidLabel);
  EXPECT_EQ(ReasonOf(RowFromJsonText(R"({"customer_id":"u","lable":"vip"})")), kBadRow);
  EXPECT_EQ(ReasonOf(RowFromJsonText(R"({"customer_id":"u","label":"a","add":["b"]})")), kBadRow);
  EXPECT_EQ(ReasonOf(RowFromJsonText(R"({"customer_id":"u","user_id":"u","label":"a"})")), kBadRow);
}

TEST(LabelRowsTest, MessageIdIsDeterministicAndContentBound) {
  const std::string id = LabelMessageId(Row("u1", {"vip", "gold"}, {"churned"}));
  EXPECT_THAT(id, ::testing::MatchesRegex("lbl-[0-9a-f]{16}"));
  EXPECT_EQ(id, LabelMessageId(Row("u1", {"gold", "vip"}, {"churned"})));  // order-free
  EXPECT_NE(id, LabelMessageId(Row("u2", {"vip", "gold"}, {"churned"})));
  EXPECT_NE(id, LabelMessageId(Row("u1", {"vip", "gold"}, {})));
  EXPECT_NE(id, LabelMessageId(Row("u1", {"vip", "gold", "churned"}, {})));
  // The separators cannot be forged by moving characters between fields.
  EXPECT_NE(LabelMessageId(Row("u1", {"a"}, {"b"})), LabelMessageId(Row("u1", {"a", "b"}, {})));
}

TEST(LabelRowsTest, EventJson) {
  auto e = nlohmann::json::parse(
      LabelEventJson(Row("u1", {"vip"}, {"churned"}), "import", 1793606400000));
  EXPECT_EQ(e["type"], "track");
  EXPECT_EQ(e["event"], "Labels Updated");
  EXPECT_EQ(e["userId"], "u1");
  EXPECT_EQ(e["timestamp"], "2026-11-02T08:00:00.000Z");
  EXPECT_EQ(e["messageId"], LabelMessageId(Row("u1", {"vip"}, {"churned"})));
  EXPECT_EQ(e["properties"],
            nlohmann::json::parse(R"({"add":["vip"],"remove":["churned"],"source":"import"})"));
}

TEST(LabelRowsTest, CombinerJoinsRunsOfOneCustomerLaterRowsWin) {
  RowCombiner c;
  EXPECT_FALSE(c.Add(Row("u1", {"vip"})).has_value());
  EXPECT_FALSE(c.Add(Row("u1", {"gold"}, {"churned"})).has_value());
  EXPECT_FALSE(c.Add(Row("u1", {}, {"vip"})).has_value());  // removed after being added
  auto done = c.Add(Row("u2", {"vip"}));
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->customer_id, "u1");
  EXPECT_EQ(done->add, (std::set<std::string>{"gold"}));
  EXPECT_EQ(done->remove, (std::set<std::string>{"churned", "vip"}));
  auto last = c.Finish();
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->customer_id, "u2");
  EXPECT_FALSE(c.Finish().has_value());
  // A run that would exceed the per-event bound starts a new event.
  RowCombiner big;
  std::set<std::string> many;
  for (size_t i = 0; i < kMaxLabelsPerEvent; ++i) many.insert("l" + std::to_string(i));
  EXPECT_FALSE(big.Add(Row("u1", many)).has_value());
  auto split = big.Add(Row("u1", {"one-more"}));
  ASSERT_TRUE(split.has_value());
  EXPECT_EQ(split->add.size(), kMaxLabelsPerEvent);
}

std::string WriteFile(const testing::TempDir& dir, const std::string& name,
                      const std::string& text) {
  std::ofstream(dir.Sub(name), std::ios::binary) << text;
  return dir.Sub(name);
}

std::vector<FileRow> ReadAll(const std::string& path, FileFormat f) {
  auto r = LabelFileReader::Open(path, f);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  std::vector<FileRow> rows;
  FileRow row;
  for (int i = 0; r.ok() && i < 1000 && (*r)->Next(&row); ++i) rows.push_back(row);
  return rows;
}

TEST(LabelFileTest, CsvRowsWithLineNumbers) {
  testing::TempDir dir;
  const auto path = WriteFile(dir, "l.csv",
                              "\xEF\xBB\xBF"
                              "customer_id, add ,remove\r\n"
                              "u1,vip; gold,churned\r\n"
                              "\r\n"
                              "\"u,2\",\"tier:a\",\n"
                              "u3,\"multi\n"
                              "line\",\n"
                              ",vip,\n"
                              "u5,VIP,\n"
                              "u6,vip\n"
                              "u7,,\n"
                              "u8,\"vip\"\"x\",\n"
                              "u9,\"open\n");
  const auto rows = ReadAll(path, FileFormat::kCsv);
  ASSERT_EQ(rows.size(), 9u);
  EXPECT_EQ(rows[0].line, 2u);
  EXPECT_EQ(std::get<LabelRow>(rows[0].row).add, (std::set<std::string>{"gold", "vip"}));
  EXPECT_EQ(rows[1].line, 4u);
  EXPECT_EQ(std::get<LabelRow>(rows[1].row).customer_id, "u,2");
  EXPECT_EQ(rows[2].line, 5u);
  EXPECT_EQ(ReasonOf(rows[2].row), kInvalidLabel);  // "multi\nline"
  EXPECT_EQ(rows[3].line, 7u);
  EXPECT_EQ(ReasonOf(rows[3].row), kMissingId);
  EXPECT_EQ(rows[4].line, 8u);
  EXPECT_EQ(ReasonOf(rows[4].row), kInvalidLabel);
  EXPECT_EQ(rows[5].line, 9u);
  EXPECT_EQ(ReasonOf(rows[5].row), kColumnCount);
  EXPECT_EQ(rows[6].line, 10u);
  EXPECT_EQ(ReasonOf(rows[6].row), kNoLabels);
  EXPECT_EQ(rows[7].line, 11u);
  EXPECT_EQ(ReasonOf(rows[7].row), kInvalidLabel);  // vip"x
  EXPECT_EQ(rows[8].line, 12u);
  EXPECT_EQ(ReasonOf(rows[8].row), kBadRow);  // unterminated quote
}

TEST(LabelFileTest, CsvLabelColumnAndBadHeaders) {
  testing::TempDir dir;
  auto rows = ReadAll(WriteFile(dir, "a.csv", "user_id,label\nu1,vip\nu2,\n"), FileFormat::kCsv);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(std::get<LabelRow>(rows[0].row).add, (std::set<std::string>{"vip"}));
  EXPECT_EQ(ReasonOf(rows[1].row), kInvalidLabel);  // an empty label is not "no labels"

  for (const auto& [text, what] : std::vector<std::pair<std::string, std::string>>{
           {"", "empty file"},
           {"customer_id,lable\n", "unknown column"},
           {"label\nvip\n", "no customer_id"},
           {"customer_id\nu1\n", "no label"},
           {"customer_id,label,add\n", "either a label"},
           {"customer_id,customer_id,label\n", "twice"}}) {
    auto r = LabelFileReader::Open(WriteFile(dir, "h.csv", text), FileFormat::kCsv);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_THAT(r.status().message(), HasSubstr("h.csv:1: ")) << text;
    EXPECT_THAT(r.status().message(), HasSubstr(what)) << text;
  }
  EXPECT_EQ(LabelFileReader::Open(dir.Sub("missing.csv"), FileFormat::kCsv).status().code(),
            StatusCode::kNotFound);
}

TEST(LabelFileTest, JsonLines) {
  testing::TempDir dir;
  const auto rows = ReadAll(WriteFile(dir, "l.jsonl",
                                      "{\"customer_id\":\"u1\",\"add\":[\"vip\"]}\n"
                                      "\n"
                                      "{\"customer_id\":\"u2\",\"label\":\"gold\"}\r\n"
                                      "{not json\n"
                                      "{\"customer_id\":\"u4\",\"add\":[\"Bad Label\"]}"),
                            FileFormat::kJsonLines);
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0].line, 1u);
  EXPECT_EQ(rows[1].line, 3u);
  EXPECT_EQ(std::get<LabelRow>(rows[1].row).add, (std::set<std::string>{"gold"}));
  EXPECT_EQ(rows[2].line, 4u);
  EXPECT_EQ(ReasonOf(rows[2].row), kBadJson);
  EXPECT_EQ(rows[3].line, 5u);
  EXPECT_EQ(ReasonOf(rows[3].row), kInvalidLabel);
}

TEST(LabelFileTest, FormatFromName) {
  EXPECT_EQ(*FormatFromName("x/labels.CSV"), FileFormat::kCsv);
  EXPECT_EQ(*FormatFromName("labels.jsonl"), FileFormat::kJsonLines);
  EXPECT_EQ(*FormatFromName("labels.ndjson"), FileFormat::kJsonLines);
  EXPECT_FALSE(FormatFromName("labels.txt").ok());
}

TEST(LabelFileTest, ArbitraryBytesNeverCrash) {
  testing::TempDir dir;
  std::mt19937_64 rng(7);
  for (int i = 0; i < 200; ++i) {
    std::string text = i % 2 == 0 ? "customer_id,add,remove\n" : "";
    const size_t n = rng() % 400;
    for (size_t k = 0; k < n; ++k) {
      const char alphabet[] = "u1,;\"\n\r{}[]:vip \x00\xff";
      text += alphabet[rng() % (sizeof alphabet - 1)];
    }
    for (auto f : {FileFormat::kCsv, FileFormat::kJsonLines}) {
      auto r = LabelFileReader::Open(WriteFile(dir, "f", text), f);
      if (!r.ok()) continue;
      FileRow row;
      for (int k = 0; k < 1000 && (*r)->Next(&row); ++k) {
        EXPECT_GE(row.line, 1u);
        if (auto* good = std::get_if<LabelRow>(&row.row)) {
          EXPECT_FALSE(ValidateRow(*good).has_value());
          EXPECT_FALSE(LabelEventJson(*good, "import", 0).empty());
        }
      }
    }
  }
}

}  // namespace
}  // namespace cairn::labels
