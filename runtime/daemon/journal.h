// Durable state on disk: an append-only journal of length + CRC32 framed
// records, and whole-file snapshots written atomically. A bad journal tail is
// reported and preserved, never silently dropped.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace allot::daemon {

// CRC-32 (IEEE 802.3, the zlib one): crc32("123456789") == 0xCBF43926.
std::uint32_t crc32(std::string_view data);

// A record on disk: payload length (u32, little endian), CRC-32 of the
// payload (u32, little endian), then the payload. Empty payloads are not
// allowed (a zero-filled region would otherwise read as valid records).
inline constexpr std::size_t kRecordHeaderBytes = 8;
inline constexpr std::uint32_t kMaxRecordBytes = 16u << 20;
std::string frame_record(std::string_view payload);

enum class TailState : std::uint8_t {
  clean,      // the journal ends exactly after a valid record
  truncated,  // the last record is cut short (a torn write)
  corrupt,    // a record fails its CRC or has an impossible length
};

const char* to_string(TailState state);

struct JournalScan {
  std::vector<std::string> records;  // the payloads of the valid prefix
  std::uint64_t valid_bytes = 0;     // length of the valid prefix
  TailState tail = TailState::clean;
  std::string problem;  // what is wrong with the tail, empty when clean
};

// Reads records up to the first bad one. Pure; does not touch files.
JournalScan scan_journal(std::string_view bytes);

// What recover_journal found and did.
struct JournalRecovery {
  JournalScan scan;
  std::uint64_t bad_bytes = 0;
  std::string side_file;  // where the bad tail was copied, empty when clean
};

// Scans the journal file (a missing file is an empty journal). A bad tail is
// copied to `<path>.bad-<offset>-<unix time>` (fsynced) and then cut off the
// journal, so that new records follow the valid prefix. Returns nullopt with
// `error` set if the files cannot be read or written.
std::optional<JournalRecovery> recover_journal(const std::string& path, std::string& error);

// Appends framed records. append() only buffers in the kernel; sync() makes
// everything appended so far durable (fdatasync). Callers sync before they
// acknowledge what they appended.
class JournalWriter {
 public:
  JournalWriter() = default;
  ~JournalWriter();
  JournalWriter(const JournalWriter&) = delete;
  JournalWriter& operator=(const JournalWriter&) = delete;

  bool open(const std::string& path, std::string& error);  // creates or appends; fsyncs the directory
  bool append(std::string_view payload, std::string& error);
  bool sync(std::string& error);
  void close();
  bool is_open() const { return fd_ >= 0; }
  std::uint64_t size() const { return size_; }
  std::uint64_t unsynced() const { return unsynced_; }

 private:
  int fd_ = -1;
  std::uint64_t size_ = 0;
  std::uint64_t unsynced_ = 0;
};

// Whole-file helpers.
std::optional<std::string> read_file(const std::string& path, std::string& error);
// Writes `path.tmp`, fsyncs it, renames it over `path` and fsyncs the directory.
bool write_file_atomic(const std::string& path, std::string_view data, std::string& error);
bool fsync_directory(const std::string& dir, std::string& error);
std::string parent_directory(const std::string& path);

}  // namespace allot::daemon
