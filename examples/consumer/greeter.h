// A tiny service of the consumer project: answers "hello, <name>".
#ifndef CONSUMER_GREETER_H_
#define CONSUMER_GREETER_H_

#include <memory>
#include <string>

#include "runtime/server.h"

namespace greeter {

// A started greeter server on `address`.
std::unique_ptr<gevent::StreamServer> Start(const gevent::Address& address);
// Asks the greeter at `address` to greet `name`.
std::string Greet(const gevent::Address& address, const std::string& name);

}  // namespace greeter

#endif  // CONSUMER_GREETER_H_
