"""Float-list statistics over sensor readings, where half-way through some
readings arrive as ints (and one as a bool): the results must stay exact.

    python bench/programs/mixed_list.py [BATCHES]

Each batch is a list of floats run through small kernels (mean, variance,
scaling in place, smoothing, clipping).  From the middle batch on, a few
readings in every batch are ints instead of floats; later ones also carry
a bool and an int too large for a C long.
"""
import sys

N = 20_000
REPEAT = 5
BATCH = 24


def mean(values):
    total = 0.0
    for v in values:
        total += v
    return total / len(values)


def variance(values):
    m = mean(values)
    total = 0.0
    for v in values:
        d = v - m
        total += d * d
    return total / len(values)


def scale_in_place(values, factor):
    for i in range(len(values)):
        values[i] = values[i] * factor


def smooth(values):
    out = [values[0]]
    for i in range(1, len(values) - 1):
        out.append((values[i - 1] + values[i] + values[i + 1]) / 3)
    out.append(values[-1])
    return out


def clip_count(values, low, high):
    count = 0
    for v in values:
        if v < low or v > high:
            count += 1
    return count


def make_batch(b, switch):
    values = [((b * 31 + i * 17) % 1000) / 10.0 for i in range(BATCH)]
    if b >= switch:
        # an older sensor firmware reports whole numbers as ints
        values[3] = (b * 7) % 100
        values[11] = -((b * 13) % 50)
        if b % 3 == 0:
            values[5] = True
        if b % 7 == 0:
            values[7] = 2 ** 70 + b
    return values


def run(n):
    acc_mean = 0.0
    acc_var = 0.0
    acc_scaled = 0.0
    clipped = 0
    kinds = set()
    for b in range(n):
        values = make_batch(b, n // 2)
        kinds.update(type(v).__name__ for v in values)
        acc_mean += mean(values)
        acc_var += variance(smooth(values)) % 1000.0
        scale_in_place(values, 0.5 if b % 2 else 2)
        acc_scaled += mean(values) % 1000.0
        clipped += clip_count(values, 5.0, 95.0)
    return f"{acc_mean!r} {acc_var!r} {acc_scaled!r} {clipped} {sorted(kinds)}"


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else N
    for _ in range(REPEAT):
        print(run(n))


if __name__ == "__main__":
    main()
