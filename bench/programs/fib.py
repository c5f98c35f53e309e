"""Naive recursive Fibonacci numbers.

    python bench/programs/fib.py [N]
"""
import sys

N = 32
REPEAT = 5


def fib(n):
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)


def run(n):
    return f"fib({n}) = {fib(n)}"


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else N
    for _ in range(REPEAT):
        print(run(n))


if __name__ == "__main__":
    main()
