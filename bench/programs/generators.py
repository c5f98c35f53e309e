"""A log-processing pipeline built from generators and itertools.

    python bench/programs/generators.py [EVENTS]

Every stage is a generator function or a generator expression, chained with
itertools (islice, groupby, accumulate, chain, pairwise ...).  restrain does
not compile generators, so this program measures what the JIT costs where it
cannot help.
"""
import itertools
import sys

N = 240_000
REPEAT = 5

LEVELS = ("DEBUG", "INFO", "INFO", "WARN", "INFO", "ERROR")
SERVICES = ("auth", "billing", "search", "mail")


def event_source(count, seed=7):
    state = seed
    for t in range(count):
        state = (state * 1103515245 + 12345) & 0x7FFFFFFF
        yield t, SERVICES[state % 4], LEVELS[(state >> 8) % 6], (state >> 12) % 500


def only_levels(events, wanted):
    for event in events:
        if event[2] in wanted:
            yield event


def windows(events, size):
    iterator = iter(events)
    while True:
        chunk = list(itertools.islice(iterator, size))
        if not chunk:
            return
        yield chunk


def latencies(events):
    return (latency for _, _, _, latency in events)


def running_max(values):
    yield from itertools.accumulate(values, max)


def run(n):
    events = list(event_source(n))
    by_service = sorted(events, key=lambda e: e[1])
    totals = {service: sum(latencies(group))
              for service, group in itertools.groupby(by_service, key=lambda e: e[1])}
    serious = sum(1 for _ in only_levels(events, {"WARN", "ERROR"}))
    window_means = [sum(e[3] for e in w) // len(w) for w in windows(events, 256)]
    peaks = list(running_max(latencies(events)))
    jumps = sum(1 for a, b in itertools.pairwise(window_means) if abs(a - b) > 10)
    merged = sum(itertools.islice(itertools.chain(
        latencies(only_levels(events, {"ERROR"})),
        latencies(only_levels(events, {"DEBUG"}))), 0, None, 3))
    levels = {level: sum(1 for e in events if e[2] == level) for level in set(LEVELS)}
    return (f"{sorted(totals.items())} {serious} {len(window_means)} {jumps} "
            f"{peaks[-1]} {merged} {sorted(levels.items())}")


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else N
    for _ in range(REPEAT):
        print(run(n))


if __name__ == "__main__":
    main()
