// `cairn validate` (engine/app/validate_command.cc, compiled in here so the
// test needs only the journey module).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "app/validate_command.h"

namespace cairn::app {
namespace {

using ::testing::HasSubstr;

TEST(ValidateTest, ShippedJourneysAreOk) {
  std::ostringstream out, err;
  EXPECT_EQ(RunValidate({std::string(CAIRN_SOURCE_DIR) + "/journeys"}, out, err), 0) << out.str();
  EXPECT_THAT(out.str(),
              ::testing::MatchesRegex("ok: [0-9]+ journeys, [0-9]+ steps, profile: [0-9]+ computed "
                                      "traits, [0-9]+ segments, [0-9]+ stages, RFM, 0 problems\n"));
  EXPECT_EQ(err.str(), "");
}

TEST(ValidateTest, ReportsEveryProblemAndFails) {
  const auto dir = std::filesystem::temp_directory_path() / "cairn-validate-test";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string bad = (dir / "bad.yaml").string();
  std::ofstream(bad) << "journey: bad\nversion: 1\nwhen: { event: A, for: 1d }\nsteps:\n"
                        "  - id: s\n    wait: later\n";
  const std::string good = std::string(CAIRN_SOURCE_DIR) + "/journeys/welcome-series.yaml";
  std::ostringstream out, err;
  EXPECT_EQ(RunValidate({bad, good}, out, err), 1);
  EXPECT_EQ(out.str(), bad + ":3:19: 'for' only goes with absence; this trigger is event\n" + bad +
                           ":6:11: 'wait': 'later' is not a duration; write a number and a unit "
                           "(d, h, m, s, ms), e.g. 90d, 1h30m\n"
                           "failed: 2 problems in 1 of 2 files\n");

  std::ostringstream out2, err2;
  EXPECT_EQ(RunValidate({(dir / "missing").string()}, out2, err2), 1);
  EXPECT_THAT(out2.str(), HasSubstr("missing: no such file or directory\n"));

  std::filesystem::create_directories(dir / "empty");
  std::ostringstream out3, err3;
  EXPECT_EQ(RunValidate({(dir / "empty").string()}, out3, err3), 1);
  EXPECT_THAT(out3.str(), HasSubstr("failed: no journey files"));

  std::ostringstream out4, err4;
  EXPECT_EQ(RunValidate({}, out4, err4), 1);
  EXPECT_THAT(err4.str(), HasSubstr("usage: cairn validate"));
  std::filesystem::remove_all(dir);
}

// A directory's templates are checked against its journeys' send steps
// (dispatch::TemplateSet::Check; docs/templates.md).
TEST(ValidateTest, ChecksTheTemplatesOfADirectory) {
  namespace fs = std::filesystem;
  const auto dir = fs::temp_directory_path() / "cairn-validate-templates-test";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string journey = (dir / "j.yaml").string();
  std::ofstream(journey) << "journey: j\nversion: 1\nwhen: { event: A }\n"
                            "who: { consent: { email: implied } }\nsteps:\n"
                            "  - id: hello\n    send: { channel: email, template: hello }\n";
  std::ostringstream out, err;
  EXPECT_EQ(RunValidate({dir.string()}, out, err), 1);
  EXPECT_EQ(out.str(), journey + ":6:5: send step 'hello': no template 'hello' (no templates dir " +
                           (dir / "templates").string() + ")\nfailed: 1 problem in 1 of 1 file\n");

  fs::create_directories(dir / "templates");
  const std::string tmpl = (dir / "templates" / "hello.yaml").string();
  std::ofstream(tmpl) << "channel: email\nsubject: \"Hi {{first_name}}\"\ntext: Hello\n";
  std::ostringstream out2;
  EXPECT_EQ(RunValidate({dir.string()}, out2, err), 1);
  EXPECT_EQ(out2.str(), journey + ":6:5: send step 'hello': " + tmpl +
                            ":2:14: no event or profile provides '{{first_name}}'; names start "
                            "with traits, customer, event, params, task, links or track\n"
                            "failed: 1 problem in 1 of 2 files\n");

  std::ofstream(tmpl) << "channel: email\nsubject: \"Hi {{traits.first_name\"\ntext: Hello\n";
  std::ostringstream out3;
  EXPECT_EQ(RunValidate({dir.string()}, out3, err), 1);
  EXPECT_EQ(out3.str(), tmpl +
                            ":2:14: subject: unclosed tag '{{traits.first_name'\n"
                            "failed: 1 problem in 1 of 2 files\n");

  std::ofstream(tmpl) << "channel: email\nsubject: \"Hi {{traits.first_name}}\"\ntext: Hello\n";
  std::ostringstream out4;
  EXPECT_EQ(RunValidate({dir.string()}, out4, err), 0) << out4.str();
  EXPECT_EQ(out4.str(), "ok: 1 journey, 1 step, 0 problems\n");
  fs::remove_all(dir);
}

}  // namespace
}  // namespace cairn::app
