"""Call-heavy code: many small functions, keyword arguments and defaults.

    python bench/programs/calls.py [ORDERS]

Prices a stream of shop orders through a chain of tiny helpers, the way
business code often looks: positional, keyword and default arguments,
keyword-only parameters, *args and **kwargs, small methods and a closure.
"""
import sys

N = 60_000
REPEAT = 5


def clamp(value, low=0, high=100):
    if value < low:
        return low
    if value > high:
        return high
    return value


def percent(part, whole=100):
    return part * 100 // whole


def apply_discount(price, rate=0, *, minimum=0):
    discounted = price - price * rate // 100
    return max(discounted, minimum)


def tax(amount, rate=20, rounding=True):
    value = amount * rate
    return (value + 50) // 100 if rounding else value // 100


def shipping(weight, express=False, *, free_over=None, total=0):
    if free_over is not None and total >= free_over:
        return 0
    cost = 300 + weight * 12
    return cost * 2 if express else cost


def total_of(*amounts):
    result = 0
    for amount in amounts:
        result += amount
    return result


def describe(**fields):
    return len(fields) + sum(fields.values())


def make_fee(flat, per_item=0):
    def fee(count):
        return flat + per_item * count
    return fee


class Item:
    def __init__(self, price, weight, quantity=1):
        self.price = price
        self.weight = weight
        self.quantity = quantity

    def subtotal(self):
        return self.price * self.quantity

    def total_weight(self):
        return self.weight * self.quantity


def order_items(i):
    return [Item(100 + (i * 37 + k * 11) % 900, 1 + (i + k) % 9, quantity=1 + k % 3)
            for k in range(1 + i % 4)]


def price_order(i, handling):
    items = order_items(i)
    subtotal = total_of(*[item.subtotal() for item in items])
    weight = sum(item.total_weight() for item in items)
    rate = clamp(percent(i % 60, whole=200), high=25)
    discounted = apply_discount(subtotal, rate, minimum=50)
    ship = shipping(weight, express=i % 7 == 0, free_over=2000, total=discounted)
    fees = handling(len(items))
    vat = tax(discounted + ship + fees, rate=21 if i % 2 else 9, rounding=i % 3 != 0)
    score = describe(items=len(items), rate=rate, heavy=int(weight > 20))
    return discounted + ship + fees + vat, score


def run(n):
    handling = make_fee(25, per_item=5)
    revenue = 0
    scores = 0
    for i in range(n):
        amount, score = price_order(i, handling)
        revenue += amount
        scores += score
    return f"{revenue} {scores}"


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else N
    for _ in range(REPEAT):
        print(run(n))


if __name__ == "__main__":
    main()
