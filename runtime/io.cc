#include "runtime/io.h"

#include "runtime/hub.h"
#include "runtime/internal/waiter.h"

namespace gevent {
namespace {

bool WaitIo(int fd, uint32_t events, absl::Duration timeout, const char* what) {
  Hub* hub = get_hub();
  internal::Waiter waiter(hub);
  struct Watcher : IoWatcher {
    Watcher(int fd, uint32_t ev, internal::Waiter* w)
        : IoWatcher(fd, ev, &Fire), waiter(w) {}
    static void Fire(IoWatcher* io, uint32_t) {
      static_cast<Watcher*>(io)->waiter->wake();
    }
    internal::Waiter* waiter;
  } watcher(fd, events, &waiter);
  hub->start(&watcher);
  return waiter.wait(what, timeout);
}

}  // namespace

bool wait_read(int fd, absl::Duration timeout) {
  return WaitIo(fd, IoWatcher::kRead, timeout, "wait_read");
}

bool wait_write(int fd, absl::Duration timeout) {
  return WaitIo(fd, IoWatcher::kWrite, timeout, "wait_write");
}

}  // namespace gevent
