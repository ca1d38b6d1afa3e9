// fork() with a working hub in the child.
#ifndef GEVENTPP_RUNTIME_FORK_H_
#define GEVENTPP_RUNTIME_FORK_H_

#include <sys/types.h>

namespace gevent {

// Forks the process. In the child, the current thread's hub is renewed
// (fresh epoll, eventfd; signal handling re-attached) and its fork watchers
// run; greenlets, timers and callbacks survive, as in gevent. Other threads
// do not exist in the child. Returns what ::fork() returns; throws
// std::system_error if it fails.
pid_t fork();

// What fork() does in the child, for code that forked some other way.
void reinit();

}  // namespace gevent

#endif  // GEVENTPP_RUNTIME_FORK_H_
