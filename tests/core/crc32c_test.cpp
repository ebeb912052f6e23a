#include <gtest/gtest.h>

#include <string>

#include "core/crc32c.h"

namespace wm::core {
namespace {

TEST(Crc32c, MatchesTheStandardCheckValue) {
  // The CRC-32C check value from the iSCSI specification (RFC 3720, B.4).
  EXPECT_EQ(crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(crc32c(""), 0u);
  EXPECT_EQ(crc32c(std::string(32, '\0')), 0x8A9136AAu);
}

TEST(Crc32c, ExtendingInPiecesEqualsOneShot) {
  std::string data;
  for (int i = 0; i < 1000; ++i) data += static_cast<char>(i * 7);
  const uint32_t whole = crc32c(data);
  const uint32_t pieces = crc32c(std::string_view(data).substr(13), crc32c(std::string_view(data).substr(0, 13)));
  EXPECT_EQ(whole, pieces);
}

}  // namespace
}  // namespace wm::core
