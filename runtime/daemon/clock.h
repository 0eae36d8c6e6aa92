// The two clocks allotd reads: the wall clock for what is journaled and
// shown (ms since the epoch), the monotonic one for timers and timeouts.
#pragma once

#include <chrono>
#include <cstdint>

namespace allot::daemon {

inline std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

inline std::int64_t mono_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace allot::daemon
