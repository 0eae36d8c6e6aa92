// The base protocol of the Language Server Protocol: messages framed by a
// `Content-Length` header on a byte stream (stdio). Sizes are bounded before
// anything is read: a header longer than the limit or a body announced larger
// than the limit is refused, never read.
#pragma once

#include <cstddef>
#include <streambuf>
#include <string>
#include <string_view>

namespace allot::lsp {

struct FrameLimits {
  std::size_t max_header_bytes = 8192;     // all header lines of one message together
  std::size_t max_body_bytes = 64u << 20;  // a policy file is at most 16 MiB; JSON escaping may grow it
};

enum class FrameStatus {
  message,    // `body` holds one message
  end,        // the input ended between two messages
  malformed,  // the header is not `Content-Length: N` lines, or the input ended inside a message
  too_large,  // the header announces a body above the limit; nothing of it was read
};

struct Frame {
  FrameStatus status = FrameStatus::end;
  std::string body;
  std::string problem;  // for `malformed` and `too_large`: what was wrong, for the error reply
};

// Reads one message after another. After `malformed` or `too_large` the
// stream cannot be trusted to be at a message boundary: the caller stops.
class FrameReader {
 public:
  explicit FrameReader(std::streambuf& in, FrameLimits limits = {}) : in_(in), limits_(limits) {}

  Frame next();
  // Whether bytes of a further message are already buffered, so that work
  // the next message may make useless (an analysis while typing) can wait.
  bool pending() const { return in_.in_avail() > 0; }

 private:
  std::streambuf& in_;
  FrameLimits limits_;
};

// `Content-Length: N\r\n\r\n` and `body`.
std::string frame(std::string_view body);

}  // namespace allot::lsp
