// Waiting for a file descriptor to become readable or writable.
#ifndef GEVENTPP_RUNTIME_IO_H_
#define GEVENTPP_RUNTIME_IO_H_

#include "absl/time/time.h"

namespace gevent {

// Blocks the current greenlet until `fd` is readable (or has an error or
// hang-up to report). Returns false if `timeout` passed first. Throws
// std::invalid_argument for a negative or unusable descriptor, and
// std::logic_error on a hub that cannot do real I/O (the simulator).
bool wait_read(int fd, absl::Duration timeout = absl::InfiniteDuration());
// The same for writability.
bool wait_write(int fd, absl::Duration timeout = absl::InfiniteDuration());

}  // namespace gevent

#endif  // GEVENTPP_RUNTIME_IO_H_
