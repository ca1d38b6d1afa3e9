// Which file a path names (its device and inode, not its spelling), and
// the trace files this process has open for reading: a recorder must not
// truncate a trace that is being replayed, nor gtrace write its output over
// its input.
#ifndef GEVENTPP_TRACES_INTERNAL_FILES_H_
#define GEVENTPP_TRACES_INTERNAL_FILES_H_

#include <sys/types.h>

#include <string>

namespace gevent {
namespace trace {
namespace internal {

struct FileId {
  dev_t dev = 0;
  ino_t ino = 0;
  bool operator==(const FileId& o) const { return dev == o.dev && ino == o.ino; }
};

// The file `fd` is open on.
FileId IdOf(int fd);
// Whether `a` and `b` name the same existing file (links included).
bool SameFile(const std::string& a, const std::string& b);

// TraceReader registers the files it reads while it has them open.
void AddReading(const FileId& id);
void RemoveReading(const FileId& id);
bool BeingRead(const FileId& id);

}  // namespace internal
}  // namespace trace
}  // namespace gevent

#endif  // GEVENTPP_TRACES_INTERNAL_FILES_H_
