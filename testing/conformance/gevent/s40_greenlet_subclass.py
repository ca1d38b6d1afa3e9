# Subclassing Greenlet: _run() is the body, __str__() the description;
# state lives in members; the subclass has everything a spawned greenlet has.
import gevent
from gevent import Greenlet
from gevent.queue import Queue

class MyNoopGreenlet(Greenlet):
    def __init__(self, ms):
        Greenlet.__init__(self)
        self.ms = ms
    def _run(self):
        gevent.sleep(self.ms / 1000.0)
        return self.ms * 2
    def __str__(self):
        return 'MyNoopGreenlet(%d ms)' % self.ms

class Worker(Greenlet):
    def __init__(self):
        Greenlet.__init__(self)
        self.inbox = Queue()
        self.done = []
    def _run(self):
        while True:
            item = self.inbox.get()
            if item is None:
                return len(self.done)
            self.done.append(item * 10)

class Failing(Greenlet):
    def _run(self):
        raise ValueError("boom")
    def __str__(self):
        return 'Failing()'

g = MyNoopGreenlet(10)
print("started before start:", bool(g))
g.start()
print("started after start:", bool(g))
print("value:", g.get())
print("str:", str(g))
print("dead:", g.dead, "successful:", g.successful())

w = Worker.spawn()
for i in range(3):
    w.inbox.put(i)
w.inbox.put(None)
print("worker result:", w.get(), w.done)

f = Failing.spawn()
f.join()
print("failing successful:", f.successful(), type(f.exception).__name__, f.exception)

k = MyNoopGreenlet(10000)
k.start()
gevent.sleep(0)
k.kill()
print("killed dead:", k.dead, "successful:", k.successful(), type(k.value).__name__)
