"""Sieve of Eratosthenes: count primes, twin primes and prime gaps.

    python bench/programs/sieve.py [LIMIT]
"""
import sys

N = 1_700_000
REPEAT = 5


def sieve_list(limit):
    """A list of bools, True where the index is prime."""
    is_prime = [True] * (limit + 1)
    is_prime[0] = is_prime[1] = False
    p = 2
    while p * p <= limit:
        if is_prime[p]:
            for multiple in range(p * p, limit + 1, p):
                is_prime[multiple] = False
        p += 1
    return is_prime


def sieve_bytes(limit):
    """The same with a bytearray, odd numbers only and slice assignment."""
    flags = bytearray([1]) * (limit + 1)
    flags[0] = flags[1] = 0
    for even in range(4, limit + 1, 2):
        flags[even] = 0
    i = 3
    while i * i <= limit:
        if flags[i]:
            count = len(range(i * i, limit + 1, 2 * i))
            flags[i * i::2 * i] = bytes(count)
        i += 2
    return flags


def count_primes(flags):
    count = 0
    for flag in flags:
        if flag:
            count += 1
    return count


def twin_primes(flags):
    twins = 0
    for n in range(3, len(flags) - 2):
        if flags[n] and flags[n + 2]:
            twins += 1
    return twins


def largest_gap(flags):
    last = 2
    gap, at = 0, 2
    for n in range(3, len(flags)):
        if flags[n]:
            if n - last > gap:
                gap, at = n - last, last
            last = n
    return gap, at


def run(n):
    as_list = sieve_list(n)
    as_bytes = sieve_bytes(n)
    primes = count_primes(as_list)
    same = primes == count_primes(as_bytes)
    twins = twin_primes(as_list)
    gap, at = largest_gap(as_bytes)
    return f"{primes} {same} {twins} {gap}@{at}"


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else N
    for _ in range(REPEAT):
        print(run(n))


if __name__ == "__main__":
    main()
