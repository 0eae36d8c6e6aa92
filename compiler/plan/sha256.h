// SHA-256 (FIPS 180-4), for the plan's fingerprint of the policy text.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace allot::plan {

class Sha256 {
 public:
  Sha256();
  void update(std::string_view data);
  std::array<std::uint8_t, 32> finish();

 private:
  void block(const std::uint8_t* p);

  std::array<std::uint32_t, 8> h_;
  std::array<std::uint8_t, 64> buffer_{};
  std::size_t used_ = 0;
  std::uint64_t length_ = 0;  // bytes
};

// Lower-case hex digest of `data`.
std::string sha256_hex(std::string_view data);

}  // namespace allot::plan
