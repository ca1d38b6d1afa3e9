// Everything in one include: #include "runtime/gevent.h".
#ifndef GEVENTPP_RUNTIME_GEVENT_H_
#define GEVENTPP_RUNTIME_GEVENT_H_

#include "runtime/address.h"
#include "runtime/async_result.h"
#include "runtime/buggify.h"
#include "runtime/clock.h"
#include "runtime/event.h"
#include "runtime/exception_text.h"
#include "runtime/exceptions.h"
#include "runtime/fork.h"
#include "runtime/greenlet.h"
#include "runtime/hub.h"
#include "runtime/io.h"
#include "runtime/monitor.h"
#include "runtime/queue.h"
#include "runtime/raw_greenlet.h"
#include "runtime/semaphore.h"
#include "runtime/server.h"
#include "runtime/signal.h"
#include "runtime/socket.h"
#include "runtime/threadpool.h"
#include "runtime/sleep.h"
#include "runtime/timeout.h"
#include "runtime/wait.h"
#include "runtime/waitable.h"

#endif  // GEVENTPP_RUNTIME_GEVENT_H_
