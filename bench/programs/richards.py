"""An operating-system task scheduler simulation, in the style of the Richards
benchmark: a few task objects (idle, worker, two handlers, two devices)
exchange packets through a priority scheduler.

    python bench/programs/richards.py [IDLE_COUNT]

The idle task runs IDLE_COUNT times, waking the devices in a pseudo-random
order; the worker fills work packets with letters and sends them to the
handlers, which move the letters one by one to their device through device
packets.  Prints how many packets were queued and how often tasks were held.
"""
import sys

N = 55_000
REPEAT = 5

IDLE, WORKER, HANDLER_A, HANDLER_B, DEVICE_A, DEVICE_B = range(6)
KIND_DEVICE, KIND_WORK = 0, 1
DATA_SIZE = 4


class Packet:
    def __init__(self, link, ident, kind):
        self.link = link
        self.ident = ident
        self.kind = kind
        self.counter = 0
        self.data = [0] * DATA_SIZE

    def append_to(self, queue):
        """Put this packet at the end of `queue`; return the queue's head."""
        self.link = None
        if queue is None:
            return self
        node = queue
        while node.link is not None:
            node = node.link
        node.link = self
        return queue


class Task:
    def __init__(self, scheduler, ident, priority, queue):
        self.scheduler = scheduler
        self.ident = ident
        self.priority = priority
        self.queue = queue
        self.packet_pending = queue is not None
        self.waiting = queue is not None
        self.held = False
        self.next = None

    def is_suspended(self):
        return self.held or (self.waiting and not self.packet_pending)

    def take_packet(self):
        """The first queued packet, if this task was waiting for one."""
        if not (self.waiting and self.packet_pending):
            return None
        packet = self.queue
        self.queue = packet.link
        self.packet_pending = self.queue is not None
        self.waiting = False
        return packet

    def add_packet(self, packet, sender):
        if self.queue is None:
            self.queue = packet
            self.packet_pending = True
            if self.priority > sender.priority:
                return self
        else:
            packet.append_to(self.queue)
        return sender

    # operations a task's run() ends with; each returns the next task to run
    def wait(self):
        self.waiting = True
        return self

    def hold(self):
        self.scheduler.hold_count += 1
        self.held = True
        return self.next

    def release(self, ident):
        task = self.scheduler.find(ident)
        task.held = False
        return task if task.priority > self.priority else self

    def send(self, packet):
        target = self.scheduler.find(packet.ident)
        self.scheduler.queue_count += 1
        packet.link = None
        packet.ident = self.ident
        return target.add_packet(packet, self)

    def run(self, packet):
        raise NotImplementedError


class IdleTask(Task):
    def __init__(self, scheduler, ident, priority, count):
        super().__init__(scheduler, ident, priority, None)
        self.control = 1
        self.count = count

    def run(self, packet):
        self.count -= 1
        if self.count == 0:
            return self.hold()
        if self.control & 1 == 0:
            self.control >>= 1
            return self.release(DEVICE_A)
        self.control = (self.control >> 1) ^ 0xD008
        return self.release(DEVICE_B)


class WorkerTask(Task):
    def __init__(self, scheduler, ident, priority, queue):
        super().__init__(scheduler, ident, priority, queue)
        self.destination = HANDLER_A
        self.letter = 0

    def run(self, packet):
        if packet is None:
            return self.wait()
        self.destination = HANDLER_B if self.destination == HANDLER_A else HANDLER_A
        packet.ident = self.destination
        packet.counter = 0
        for i in range(DATA_SIZE):
            self.letter = self.letter % 26 + 1
            packet.data[i] = self.letter
        return self.send(packet)


class HandlerTask(Task):
    def __init__(self, scheduler, ident, priority, queue):
        super().__init__(scheduler, ident, priority, queue)
        self.work = None
        self.devices = None

    def run(self, packet):
        if packet is not None:
            if packet.kind == KIND_WORK:
                self.work = packet.append_to(self.work)
            else:
                self.devices = packet.append_to(self.devices)
        if self.work is not None:
            work = self.work
            if work.counter < DATA_SIZE:
                if self.devices is not None:
                    device = self.devices
                    self.devices = device.link
                    device.counter = work.data[work.counter]
                    work.counter += 1
                    return self.send(device)
            else:
                self.work = work.link
                return self.send(work)
        return self.wait()


class DeviceTask(Task):
    def __init__(self, scheduler, ident, priority):
        super().__init__(scheduler, ident, priority, None)
        self.pending = None
        self.received = 0

    def run(self, packet):
        if packet is None:
            if self.pending is None:
                return self.wait()
            packet, self.pending = self.pending, None
            return self.send(packet)
        self.pending = packet
        self.received += packet.counter
        return self.hold()


class Scheduler:
    def __init__(self):
        self.tasks = [None] * 6
        self.first = None
        self.queue_count = 0
        self.hold_count = 0

    def add(self, task):
        self.tasks[task.ident] = task
        ordered = sorted((t for t in self.tasks if t is not None),
                         key=lambda t: t.priority, reverse=True)
        for higher, lower in zip(ordered, ordered[1:] + [None]):
            higher.next = lower
        self.first = ordered[0]

    def find(self, ident):
        return self.tasks[ident]

    def schedule(self):
        task = self.first
        while task is not None:
            if task.is_suspended():
                task = task.next
            else:
                task = task.run(task.take_packet())


def packets(count, ident, kind):
    queue = None
    for _ in range(count):
        queue = Packet(queue, ident, kind)
    return queue


def run(n):
    s = Scheduler()
    s.add(IdleTask(s, IDLE, 0, n))
    s.add(WorkerTask(s, WORKER, 1000, packets(2, IDLE, KIND_WORK)))
    s.add(HandlerTask(s, HANDLER_A, 2000, packets(3, DEVICE_A, KIND_DEVICE)))
    s.add(HandlerTask(s, HANDLER_B, 3000, packets(3, DEVICE_B, KIND_DEVICE)))
    device_a = DeviceTask(s, DEVICE_A, 4000)
    device_b = DeviceTask(s, DEVICE_B, 5000)
    s.add(device_a)
    s.add(device_b)
    s.schedule()
    return f"queued={s.queue_count} held={s.hold_count} a={device_a.received} b={device_b.received}"


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else N
    for _ in range(REPEAT):
        print(run(n))


if __name__ == "__main__":
    main()
