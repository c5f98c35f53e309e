"""Integer loops whose values outgrow 64 bits half-way: exact big results.

    python bench/programs/int_overflow.py [N]

Fibonacci numbers up to F(150), factorial-like products up to 40! and a
power-sum recurrence: each loop starts on small integers and ends far beyond
2**63, and the results must stay exact.
"""
import sys

N = 30_000
REPEAT = 5
MODULUS = 1_000_000_007


def fibonacci(count):
    a, b = 0, 1
    for _ in range(count):
        a, b = b, a + b
    return a


def rising_product(start, count):
    product = 1
    for k in range(start, start + count):
        product *= k
    return product


def power_sum(base, count):
    total = 0
    power = 1
    for _ in range(count):
        total += power
        power *= base
    return total


def digit_sum(n):
    total = 0
    while n:
        n, digit = divmod(n, 10)
        total += digit
    return total


def run(n):
    fib_acc = 0
    prod_acc = 0
    pow_acc = 0
    bits = 0
    for i in range(n):
        f = fibonacci(80 + i % 70)
        p = rising_product(1 + i % 7, 25 + i % 15)
        s = power_sum(3 + i % 5, 30 + i % 20)
        fib_acc = (fib_acc + f) % MODULUS
        prod_acc = (prod_acc * 31 + p) % MODULUS
        pow_acc = (pow_acc * 17 + s) % MODULUS
        bits = max(bits, f.bit_length(), p.bit_length(), s.bit_length())
    last = fibonacci(149 + n % 2)
    return f"{fib_acc} {prod_acc} {pow_acc} {bits} {digit_sum(last)} {last}"


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else N
    for _ in range(REPEAT):
        print(run(n))


if __name__ == "__main__":
    main()
