#include "traces/internal/files.h"

#include <sys/stat.h>

#include <algorithm>
#include <mutex>
#include <vector>

namespace gevent {
namespace trace {
namespace internal {
namespace {

std::mutex& Mu() {
  static auto* mu = new std::mutex;
  return *mu;
}

// One entry per open reader (a file read twice is there twice).
std::vector<FileId>& Reading() {
  static auto* v = new std::vector<FileId>;
  return *v;
}

}  // namespace

FileId IdOf(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0) return {};
  return {st.st_dev, st.st_ino};
}

bool SameFile(const std::string& a, const std::string& b) {
  struct stat sa, sb;
  return stat(a.c_str(), &sa) == 0 && stat(b.c_str(), &sb) == 0 &&
         sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

void AddReading(const FileId& id) {
  std::lock_guard<std::mutex> l(Mu());
  Reading().push_back(id);
}

void RemoveReading(const FileId& id) {
  std::lock_guard<std::mutex> l(Mu());
  auto& v = Reading();
  auto it = std::find(v.begin(), v.end(), id);
  if (it != v.end()) v.erase(it);
}

bool BeingRead(const FileId& id) {
  std::lock_guard<std::mutex> l(Mu());
  const auto& v = Reading();
  return std::find(v.begin(), v.end(), id) != v.end();
}

}  // namespace internal
}  // namespace trace
}  // namespace gevent
