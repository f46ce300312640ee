#include "cairn/host_port.h"

#include <gtest/gtest.h>

namespace cairn {
namespace {

TEST(HostPort, Splits) {
  auto a = SplitHostPort("127.0.0.1:9092");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->first, "127.0.0.1");
  EXPECT_EQ(a->second, 9092);
  auto b = SplitHostPort("[::1]:8080");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->first, "::1");
  auto c = SplitHostPort("localhost:0");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->first, "127.0.0.1");
  EXPECT_EQ(c->second, 0);
}

TEST(HostPort, RejectsBadAddresses) {
  for (const char* bad : {"", "9092", ":9092", "host:", "host:port", "host:70000", "host:123456"}) {
    EXPECT_FALSE(SplitHostPort(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace cairn
