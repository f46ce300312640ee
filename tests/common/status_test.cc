#include "cairn/status.h"

#include <gtest/gtest.h>

namespace cairn {
namespace {

Result<int> Half(int v) {
  if (v % 2 != 0) return InvalidArgument("odd: " + std::to_string(v));
  return v / 2;
}

Status Chain(int v) {
  CAIRN_RETURN_IF_ERROR(Half(v).status());
  return Status::Ok();
}

TEST(Status, OkAndErrors) {
  EXPECT_TRUE(Status::Ok().ok());
  EXPECT_EQ(Status::Ok().ToString(), "OK");
  const Status s = NotFound("customer u1");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_NE(s.ToString().find("customer u1"), std::string::npos);
  EXPECT_EQ(s.WithContext("load").message(), "load: customer u1");
}

TEST(Status, Retryable) {
  EXPECT_TRUE(Unavailable("broker down").retryable());
  EXPECT_FALSE(InvalidArgument("x").retryable());
  EXPECT_FALSE(DataLoss("x").retryable());
}

TEST(Result, ValueOrStatus) {
  auto r = Half(8);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 4);
  EXPECT_TRUE(r.status().ok());
  auto e = Half(3);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().message(), "odd: 3");
  EXPECT_TRUE(Chain(2).ok());
  EXPECT_EQ(Chain(5).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cairn
