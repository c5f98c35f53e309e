"""Integer arithmetic loops: sums, xorshift mixing, gcd and Collatz steps.

    python bench/programs/int_loops.py [N]

Every value stays below 2**62 (the mixing masks its shifts), so all the
work is on small integers.
"""
import sys

N = 220_000
REPEAT = 5
MASK = (1 << 62) - 1


def sum_of_squares(n):
    total = 0
    for i in range(n):
        total += i * i
    return total


def alternating_sum(n):
    total = 0
    sign = 1
    for i in range(1, n + 1):
        total += sign * (i % 97)
        sign = -sign
    return total


def xorshift(x):
    x ^= (x << 13) & MASK
    x ^= x >> 7
    x ^= (x << 17) & MASK
    return x


def mix(seed, count):
    x = seed
    acc = 0
    for _ in range(count):
        x = xorshift(x)
        acc = (acc + (x & 0xFFFF)) & MASK
    return acc ^ x


def gcd(a, b):
    while b:
        a, b = b, a % b
    return a


def gcd_total(n):
    total = 0
    for i in range(1, n + 1):
        total += gcd(i * 7919, (i * i + 1) % 1_000_003 + 1)
    return total


def collatz_steps(n):
    steps = 0
    while n != 1:
        if n % 2 == 0:
            n //= 2
        else:
            n = 3 * n + 1
        steps += 1
    return steps


def longest_collatz(limit):
    best, best_start = 0, 1
    for start in range(1, limit):
        steps = collatz_steps(start)
        if steps > best:
            best, best_start = steps, start
    return best_start, best


def run(n):
    squares = sum_of_squares(n)
    alternating = alternating_sum(n)
    mixed = mix(0x2545F4914F6CDD1D & MASK, n)
    gcds = gcd_total(n // 4)
    start, steps = longest_collatz(n // 8)
    return f"{squares % 1_000_000_007} {alternating} {mixed} {gcds} {start}:{steps}"


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else N
    for _ in range(REPEAT):
        print(run(n))


if __name__ == "__main__":
    main()
