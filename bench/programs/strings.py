"""String building: f-strings, joins, splits and str methods.

    python bench/programs/strings.py [RECORDS]

Generates a list of customer records, formats them as a CSV-like report,
parses the report back, normalises the names and builds a summary, with a
small polynomial checksum of the text at each stage.
"""
import sys

N = 30_000
REPEAT = 5

FIRST = ["ada", "brian", "carla", "dmitri", "elena", "farid", "grace", "hiro",
         "ines", "jonas", "kemal", "lucia", "marek", "nadia", "oscar", "priya"]
LAST = ["lovelace", "kernighan", "smith", "ivanov", "garcia", "haddad",
        "hopper", "tanaka", "silva", "berg", "yilmaz", "rossi", "novak"]
CITIES = ["Lisbon", "Oslo", "Kyoto", "Lima", "Accra", "Perth", "Quebec", "Riga"]


def text_checksum(text):
    h = 0
    for ch in text:
        h = (h * 131 + ord(ch)) % 4294967291
    return h


def make_record(i):
    first = FIRST[i % len(FIRST)]
    last = LAST[(i * 7) % len(LAST)]
    city = CITIES[(i * 3) % len(CITIES)]
    balance = (i * 7919) % 100_000 / 100
    return first, last, city, balance


def format_line(i, first, last, city, balance):
    return f"{i:06d};{first.title()} {last.upper()};{city.lower()};{balance:>10.2f}"


def build_report(n):
    lines = ["id;name;city;balance"]
    for i in range(n):
        lines.append(format_line(i, *make_record(i)))
    return "\n".join(lines)


def parse_line(line):
    ident, name, city, balance = line.split(";")
    first, last = name.split(" ")
    return int(ident), first.lower(), last.capitalize(), city.capitalize(), float(balance.strip())


def initials(first, last):
    return (first[:1] + last[:1]).upper()


def slugify(text):
    out = []
    for ch in text.lower():
        if ch.isalnum():
            out.append(ch)
        elif out and out[-1] != "-":
            out.append("-")
    return "".join(out).strip("-")


def summarize(report):
    per_city = {}
    tags = []
    for line in report.splitlines()[1:]:
        ident, first, last, city, balance = parse_line(line)
        per_city[city] = per_city.get(city, 0.0) + balance
        if ident % 5 == 0:
            tags.append(slugify(f"{initials(first, last)} {first} of {city}!"))
    rows = [f"{city:<8}|{total:12.2f}" for city, total in sorted(per_city.items())]
    return "\n".join(rows), " ".join(tags).replace("-of-", "@")


def run(n):
    report = build_report(n)
    table, tags = summarize(report)
    vowels = sum(report.count(v) for v in "aeiou")
    return (f"{len(report)} {text_checksum(report)} {text_checksum(table)} "
            f"{text_checksum(tags)} {vowels} {tags[:24]!r}")


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else N
    for _ in range(REPEAT):
        print(run(n))


if __name__ == "__main__":
    main()
