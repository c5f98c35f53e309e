"""Float arithmetic kernels: numerical integration, polynomial evaluation
and Newton iterations.

    python bench/programs/float_loops.py [N]
"""
import math
import sys

N = 160_000
REPEAT = 5


def bump(x):
    return 4.0 / (1.0 + x * x)


def integrate(f, a, b, steps):
    """Midpoint rule."""
    h = (b - a) / steps
    total = 0.0
    for i in range(steps):
        total += f(a + (i + 0.5) * h)
    return total * h


def simpson_poly(coeffs, a, b, steps):
    """Simpson's rule for a polynomial, evaluated inline with Horner's rule."""
    h = (b - a) / steps
    total = 0.0
    for i in range(steps + 1):
        x = a + i * h
        y = 0.0
        for c in coeffs:
            y = y * x + c
        if i == 0 or i == steps:
            total += y
        elif i % 2 == 1:
            total += 4.0 * y
        else:
            total += 2.0 * y
    return total * h / 3.0


def horner(coeffs, x):
    result = 0.0
    for c in coeffs:
        result = result * x + c
    return result


def poly_table(coeffs, n):
    total = 0.0
    step = 2.0 / n
    for i in range(n):
        total += horner(coeffs, -1.0 + i * step)
    return total


def newton_cbrt(a, iterations=20):
    x = a if a > 1.0 else 1.0
    for _ in range(iterations):
        x = x - (x * x * x - a) / (3.0 * x * x)
    return x


def newton_sum(n):
    total = 0.0
    for i in range(1, n + 1):
        total += newton_cbrt(i * 0.37)
    return total


def run(n):
    coeffs = [0.5, -1.25, 2.0, 0.75, -3.0, 1.0]
    pi = integrate(bump, 0.0, 1.0, n * 4)
    area = simpson_poly(coeffs, -1.0, 1.0, n * 2)
    table = poly_table(coeffs, n)
    roots = newton_sum(n // 8)
    error = abs(pi - math.pi)
    return f"{pi!r} {error:.3e} {area!r} {table!r} {roots!r}"


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else N
    for _ in range(REPEAT):
        print(run(n))


if __name__ == "__main__":
    main()
