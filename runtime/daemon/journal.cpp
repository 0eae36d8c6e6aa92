#include "runtime/daemon/journal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>

namespace allot::daemon {

namespace {

constexpr std::array<std::uint32_t, 256> make_crc_table() {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    table[i] = c;
  }
  return table;
}

constexpr std::array<std::uint32_t, 256> kCrcTable = make_crc_table();

void put_u32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}

std::uint32_t get_u32(std::string_view bytes, std::size_t at) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(bytes[at + static_cast<std::size_t>(i)]);
  return v;
}

std::string errno_message(const std::string& what, const std::string& path) {
  return what + " `" + path + "`: " + std::strerror(errno);
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

}  // namespace

std::uint32_t crc32(std::string_view data) {
  std::uint32_t c = 0xFFFFFFFFu;
  for (char ch : data) c = kCrcTable[(c ^ static_cast<unsigned char>(ch)) & 0xff] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

std::string frame_record(std::string_view payload) {
  std::string out;
  out.reserve(kRecordHeaderBytes + payload.size());
  put_u32(out, static_cast<std::uint32_t>(payload.size()));
  put_u32(out, crc32(payload));
  out.append(payload);
  return out;
}

const char* to_string(TailState state) {
  switch (state) {
    case TailState::clean:
      return "clean";
    case TailState::truncated:
      return "truncated";
    case TailState::corrupt:
      return "corrupt";
  }
  return "?";
}

JournalScan scan_journal(std::string_view bytes) {
  JournalScan scan;
  std::size_t at = 0;
  while (at < bytes.size()) {
    const std::size_t left = bytes.size() - at;
    if (left < kRecordHeaderBytes) {
      scan.tail = TailState::truncated;
      scan.problem = "record header cut short (" + std::to_string(left) + " bytes) at offset " + std::to_string(at);
      break;
    }
    const std::uint32_t length = get_u32(bytes, at);
    const std::uint32_t expected_crc = get_u32(bytes, at + 4);
    if (length == 0 || length > kMaxRecordBytes) {
      scan.tail = TailState::corrupt;
      scan.problem = "impossible record length " + std::to_string(length) + " at offset " + std::to_string(at);
      break;
    }
    if (left - kRecordHeaderBytes < length) {
      scan.tail = TailState::truncated;
      scan.problem = "record of " + std::to_string(length) + " bytes cut short at offset " + std::to_string(at);
      break;
    }
    const std::string_view payload = bytes.substr(at + kRecordHeaderBytes, length);
    if (crc32(payload) != expected_crc) {
      scan.tail = TailState::corrupt;
      scan.problem = "CRC mismatch in the record at offset " + std::to_string(at);
      break;
    }
    scan.records.emplace_back(payload);
    at += kRecordHeaderBytes + length;
  }
  scan.valid_bytes = at;
  return scan;
}

std::optional<std::string> read_file(const std::string& path, std::string& error) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    error = errno_message("cannot open", path);
    return std::nullopt;
  }
  std::string out;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      error = errno_message("cannot read", path);
      ::close(fd);
      return std::nullopt;
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

std::string parent_directory(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

bool fsync_directory(const std::string& dir, std::string& error) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    error = errno_message("cannot open directory", dir);
    return false;
  }
  const bool ok = ::fsync(fd) == 0;
  if (!ok) error = errno_message("cannot fsync directory", dir);
  ::close(fd);
  return ok;
}

bool write_file_atomic(const std::string& path, std::string_view data, std::string& error) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) {
    error = errno_message("cannot create", tmp);
    return false;
  }
  if (!write_all(fd, data) || ::fsync(fd) != 0) {
    error = errno_message("cannot write", tmp);
    ::close(fd);
    ::unlink(tmp.c_str());
    return false;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    error = errno_message("cannot rename onto", path);
    ::unlink(tmp.c_str());
    return false;
  }
  return fsync_directory(parent_directory(path), error);
}

std::optional<JournalRecovery> recover_journal(const std::string& path, std::string& error) {
  JournalRecovery recovery;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return recovery;
    error = errno_message("cannot stat", path);
    return std::nullopt;
  }
  const std::optional<std::string> bytes = read_file(path, error);
  if (!bytes) return std::nullopt;
  recovery.scan = scan_journal(*bytes);
  if (recovery.scan.tail == TailState::clean) return recovery;
  recovery.bad_bytes = bytes->size() - recovery.scan.valid_bytes;
  recovery.side_file = path + ".bad-" + std::to_string(recovery.scan.valid_bytes) + "-" +
                       std::to_string(static_cast<long long>(std::time(nullptr)));
  const std::string_view tail = std::string_view(*bytes).substr(recovery.scan.valid_bytes);
  if (!write_file_atomic(recovery.side_file, tail, error)) return std::nullopt;
  if (::truncate(path.c_str(), static_cast<off_t>(recovery.scan.valid_bytes)) != 0) {
    error = errno_message("cannot truncate", path);
    return std::nullopt;
  }
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0 || ::fsync(fd) != 0) {
    error = errno_message("cannot fsync", path);
    if (fd >= 0) ::close(fd);
    return std::nullopt;
  }
  ::close(fd);
  return recovery;
}

JournalWriter::~JournalWriter() { close(); }

void JournalWriter::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool JournalWriter::open(const std::string& path, std::string& error) {
  close();
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd_ < 0) {
    error = errno_message("cannot open journal", path);
    return false;
  }
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    error = errno_message("cannot stat journal", path);
    close();
    return false;
  }
  size_ = static_cast<std::uint64_t>(st.st_size);
  unsynced_ = 0;
  return fsync_directory(parent_directory(path), error);
}

bool JournalWriter::append(std::string_view payload, std::string& error) {
  if (fd_ < 0) {
    error = "journal is not open";
    return false;
  }
  if (payload.empty() || payload.size() > kMaxRecordBytes) {
    error = "journal record of " + std::to_string(payload.size()) + " bytes is not allowed";
    return false;
  }
  const std::string framed = frame_record(payload);
  if (!write_all(fd_, framed)) {
    error = std::string("cannot append to the journal: ") + std::strerror(errno);
    return false;
  }
  size_ += framed.size();
  unsynced_ += framed.size();
  return true;
}

bool JournalWriter::sync(std::string& error) {
  if (fd_ < 0 || unsynced_ == 0) return true;
  if (::fdatasync(fd_) != 0) {
    error = std::string("cannot fsync the journal: ") + std::strerror(errno);
    return false;
  }
  unsynced_ = 0;
  return true;
}

}  // namespace allot::daemon
