#include "runtime/fork.h"

#include <unistd.h>

#include <cerrno>
#include <system_error>

#include "runtime/hub.h"

namespace gevent {

pid_t fork() {
  pid_t pid = ::fork();
  if (pid < 0) throw std::system_error(errno, std::generic_category(), "fork");
  if (pid == 0) reinit();
  return pid;
}

void reinit() {
  if (Hub* hub = get_hub_if_exists()) hub->reinit();
}

}  // namespace gevent
