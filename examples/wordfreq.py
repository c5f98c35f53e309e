"""Word frequencies of a generated text (string and dict processing).

    python examples/wordfreq.py [SENTENCES]
    python -m restrain examples/wordfreq.py [SENTENCES]

Makes a deterministic text from random.Random(seed) (invented words drawn
with a skewed distribution, capitalised sentences, punctuation), splits it
into words with a hand-written tokenizer, counts words, bigrams and word
lengths in dicts, and prints a report formatted with f-strings.  The hot code
is `tokenize`, `count_words`, `count_bigrams`, `make_word`, `make_sentence`,
`by_count` (a sort key) and `format_row`.
"""

import io
import random
import sys

DEFAULT_SENTENCES = 30_000
SEED = 1234
VOCABULARY = 2000
TOP = 12

SYLLABLES = [
    "ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "an", "el", "or", "ul",
    "bra", "che", "dri", "fla", "gro", "kri", "pla", "sto", "tha", "wen",
    "ing", "ous", "ment", "ly", "er", "est",
]
PUNCTUATION = [".", ".", ".", "!", "?", ";"]


def make_word(rng):
    """An invented word of one to four syllables."""
    count = 1 + int(rng.random() * rng.random() * 4)
    parts = []
    for _ in range(count):
        parts.append(SYLLABLES[rng.randrange(len(SYLLABLES))])
    return "".join(parts)


def make_vocabulary(rng, size):
    words = []
    seen = {}
    while len(words) < size:
        word = make_word(rng)
        if word not in seen:
            seen[word] = True
            words.append(word)
    return words


def make_sentence(rng, vocabulary):
    """A sentence of 4 to 15 words; common words come first in `vocabulary`."""
    n = len(vocabulary)
    length = rng.randint(4, 15)
    words = []
    for i in range(length):
        index = int(n * rng.random() ** 3)
        word = vocabulary[index]
        if i == 0:
            word = word[0].upper() + word[1:]
        words.append(word)
        if i < length - 1 and rng.random() < 0.08:
            words[-1] = word + ","
    return " ".join(words) + PUNCTUATION[rng.randrange(len(PUNCTUATION))]


def make_text(seed, sentences):
    rng = random.Random(seed)
    vocabulary = make_vocabulary(rng, VOCABULARY)
    lines = []
    line = []
    for _ in range(sentences):
        line.append(make_sentence(rng, vocabulary))
        if len(line) == 3:
            lines.append("  ".join(line))
            line = []
    if line:
        lines.append("  ".join(line))
    return lines


def tokenize(line):
    """Lower-case words of letters and apostrophes, in order."""
    tokens = []
    current = []
    for ch in line:
        if ch.isalpha() or ch == "'":
            current.append(ch.lower())
        elif current:
            tokens.append("".join(current))
            current = []
    if current:
        tokens.append("".join(current))
    return tokens


def count_words(tokens, counts):
    for token in tokens:
        counts[token] = counts.get(token, 0) + 1


def count_bigrams(tokens, bigrams):
    previous = None
    for token in tokens:
        if previous is not None:
            key = (previous, token)
            try:
                bigrams[key] += 1
            except KeyError:
                bigrams[key] = 1
        previous = token


def count_lengths(counts):
    lengths = {}
    for word, count in counts.items():
        n = len(word)
        lengths[n] = lengths.get(n, 0) + count
    return lengths


def by_count(item):
    """Sort key: most frequent first, then alphabetically."""
    return (-item[1], item[0])


def format_row(rank, word, count, total):
    share = 100.0 * count / total
    return f"{rank:>3}. {word:<18} {count:>7} {share:6.2f}%"


def report(lines, counts, bigrams):
    total = 0
    for count in counts.values():
        total += count
    with io.StringIO() as out:
        out.write(f"lines: {len(lines)}, words: {total}, distinct: {len(counts)}\n")
        out.write("most common words:\n")
        ranked = sorted(counts.items(), key=by_count)
        for rank, (word, count) in enumerate(ranked[:TOP], 1):
            out.write(format_row(rank, word, count, total) + "\n")
        out.write("most common pairs:\n")
        pairs = sorted(bigrams.items(), key=by_count)
        for rank, (pair, count) in enumerate(pairs[:TOP], 1):
            out.write(format_row(rank, f"{pair[0]} {pair[1]}", count, total) + "\n")
        out.write("word lengths:\n")
        lengths = count_lengths(counts)
        for n in sorted(lengths):
            out.write(f"  {n:>2} letters: {lengths[n]:>7}\n")
        once = 0
        for count in counts.values():
            if count == 1:
                once += 1
        out.write(f"words seen once: {once} ({100.0 * once / len(counts):.2f}% of distinct)\n")
        return out.getvalue()


def main(argv=None):
    argv = sys.argv if argv is None else argv
    sentences = int(argv[1]) if len(argv) > 1 else DEFAULT_SENTENCES
    lines = make_text(SEED, sentences)
    counts = {}
    bigrams = {}
    for line in lines:
        tokens = tokenize(line)
        count_words(tokens, counts)
        count_bigrams(tokens, bigrams)
    sys.stdout.write(report(lines, counts, bigrams))


if __name__ == "__main__":
    main()
