#!/usr/bin/env python3
"""Generates the fixtures of Tests/TokenizerTests/Fixtures from tiktoken, the reference implementation.

Run once by hand when the fixtures must change; its output is committed, so the tests need neither
Python nor the real GPT-2 vocabulary:

    pip install tiktoken
    python3 scripts/gen-tokenizer-fixtures.py [--gpt2 DIR]

DIR holds the real GPT-2 `gpt2.tiktoken` (default: $SPAMGUARD_GPT2_TOKENIZER, else ../shared/tokenizer
next to the package). Writes:

  small-hf/vocab.json, small-hf/merges.txt  a small BPE vocabulary learned here from generated text,
  small-tiktoken/small.tiktoken             in both file formats (ids equal ranks, as in GPT-2)
  cases.json                                texts, and invalid UTF-8 byte strings, with the ids
                                            tiktoken gives them with the small and the real GPT-2 ranks,
                                            and for texts up to 300 bytes the pieces its pattern splits
                                            them into
  unicode-classes.txt                       for every code point, the class tiktoken's pattern puts it
                                            in: L (\\p{L}), N (\\p{N}), S (\\s) or O (anything else)

Only ids of the real vocabulary are written, never the vocabulary itself.
"""

import argparse
import base64
import collections
import json
import os
import random
import sys
from pathlib import Path

import regex
import tiktoken
from tiktoken_ext.openai_public import r50k_pat_str as GPT2_PATTERN  # the pattern of tiktoken's "gpt2"

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "Tests/TokenizerTests/Fixtures"
END_OF_TEXT = "<|endoftext|>"
SMALL_MERGES = 400


def byte_to_unicode():
    """GPT-2's map from bytes to the printable characters vocab.json and merges.txt spell them with."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars = printable[:]
    n = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(printable, chars)}


BYTE_TO_UNICODE = byte_to_unicode()
# GPT-2 numbers the single bytes in this order: the printable ones first.
BYTE_RANK_ORDER = list(BYTE_TO_UNICODE)


def spell(token: bytes) -> str:
    return "".join(BYTE_TO_UNICODE[b] for b in token)


# --- Training text and the small vocabulary -------------------------------------------------------

WORDS = """the of and to a in is you that it for on are with as this your be at from or have by not
we can free click here now offer money call mail list message account please order price new only
today get our all will more just one time information us if business email receive address
remove save win cash prize credit report meeting tomorrow project thanks regards attached file
subject re fwd unsubscribe http www com net org html font color width table viagra loan mortgage
don't it's we'll you're they've I'm she'd isn't can't won't o'clock rock'n'roll
café naïve résumé straße über größe señor año déjà façade Müller
привет спасибо деньги письмо Ελληνικά καλημέρα שלום مرحبا नमस्ते
中文 邮件 免费 日本語 メール 한국어 메일 ไทย""".split()
EMOJI = ["🙂", "👍", "👍🏽", "🎉", "💰", "❤️", "🇩🇪", "👨‍👩‍👧", "✅", "🔥"]
PUNCT = [".", ",", "!", "?", "...", "!!!", ":", ";", "-", "--", "(", ")", '"', "'", "$", "%", "&", "*", "=", "/"]
SPACES = [" ", " ", " ", " ", "  ", "\n", "\n\n", "\r\n", "\t", "    ", "\u00a0", "\u3000"]


def training_text(rng: random.Random) -> str:
    parts = []
    for _ in range(60000):
        r = rng.random()
        if r < 0.70:
            word = rng.choice(WORDS)
            parts.append(word.capitalize() if rng.random() < 0.15 else word.upper() if rng.random() < 0.03 else word)
        elif r < 0.78:
            parts.append(str(rng.choice([rng.randrange(10), rng.randrange(100), rng.randrange(10**6), 2002, 1999])))
        elif r < 0.92:
            parts.append(rng.choice(PUNCT))
        elif r < 0.95:
            parts.append(rng.choice(EMOJI))
        else:
            parts.append(rng.choice(SPACES))
        parts.append(" " if rng.random() < 0.85 else rng.choice(SPACES))
    return "".join(parts)


def learn_merges(text: str, count: int) -> list[tuple[bytes, bytes]]:
    """Plain BPE training: repeatedly merge the most frequent adjacent pair inside pre-tokenized pieces."""
    pieces = collections.Counter(regex.findall(GPT2_PATTERN, text))
    words = [([bytes([b]) for b in piece.encode()], n) for piece, n in pieces.items()]
    tokens = {bytes([b]) for b in range(256)}
    merges = []
    while len(merges) < count:
        pairs = collections.Counter()
        for parts, n in words:
            for a, b in zip(parts, parts[1:]):
                if a + b not in tokens:  # a token made before from another pair: not a new merge
                    pairs[a, b] += n
        if not pairs:
            break
        (a, b), _ = max(pairs.items(), key=lambda item: (item[1], item[0]))
        tokens.add(a + b)
        merges.append((a, b))
        for parts, _ in words:
            i = 0
            while i < len(parts) - 1:
                if parts[i] == a and parts[i + 1] == b:
                    parts[i : i + 2] = [a + b]
                i += 1
    return merges


def write_small_vocabulary(merges):
    ranks = {bytes([b]): rank for rank, b in enumerate(BYTE_RANK_ORDER)}
    for a, b in merges:
        ranks[a + b] = len(ranks)
    end_of_text = len(ranks)

    hf = FIXTURES / "small-hf"
    hf.mkdir(parents=True, exist_ok=True)
    vocab = {spell(token): rank for token, rank in ranks.items()}
    vocab[END_OF_TEXT] = end_of_text
    (hf / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    merges_text = "#version: 0.2 - learned by scripts/gen-tokenizer-fixtures.py\n"
    merges_text += "".join(f"{spell(a)} {spell(b)}\n" for a, b in merges)
    (hf / "merges.txt").write_text(merges_text, encoding="utf-8")

    tt = FIXTURES / "small-tiktoken"
    tt.mkdir(parents=True, exist_ok=True)
    with open(tt / "small.tiktoken", "w") as f:
        for token, rank in sorted(ranks.items(), key=lambda item: item[1]):
            f.write(f"{base64.b64encode(token).decode()} {rank}\n")

    return tiktoken.Encoding(name="small", pat_str=GPT2_PATTERN, mergeable_ranks=ranks,
                             special_tokens={END_OF_TEXT: end_of_text})


def pieces(text: str) -> list[str]:
    """The pieces tiktoken's pattern splits `text` into. With every substring of the text a token, each
    piece is encoded whole, as one token, so the tokens are the pieces."""
    data = text.encode()
    substrings = {data[i:j] for i in range(len(data)) for j in range(i + 1, len(data) + 1)}
    ranks = {bytes([b]): b for b in range(256)}
    for substring in sorted(substrings, key=lambda s: (len(s), s)):
        ranks.setdefault(substring, len(ranks))
    encoding = tiktoken.Encoding(name="pieces", pat_str=GPT2_PATTERN, mergeable_ranks=ranks, special_tokens={})
    return [encoding.decode_single_token_bytes(token).decode() for token in encoding.encode_ordinary(text)]


def gpt2_encoding(directory: Path):
    ranks = {}
    for line in (directory / "gpt2.tiktoken").read_bytes().splitlines():
        token, rank = line.split()
        ranks[base64.b64decode(token)] = int(rank)
    return tiktoken.Encoding(name="gpt2", pat_str=GPT2_PATTERN, mergeable_ranks=ranks,
                             special_tokens={END_OF_TEXT: 50256})


# --- Texts -------------------------------------------------------------------------------------------

TRICKY_TEXTS = [
    "",
    "Hello world",
    "hello  world",
    "   leading spaces",
    "trailing spaces   ",
    " ",
    "\n",
    "\n\n\n",
    "line one\r\nline two\r\n\r\nafter blank line\r\n",
    "\t\tindented with tabs",
    "x \n y",
    "mixed \t \n whitespace\t\t \tbefore word",
    "space then newline \nword",
    "no\u00a0break\u00a0space and \u00a0 before",
    "ideographic\u3000space",
    "line\u2028separator\u2029paragraph",
    "next\u0085line",
    "I'm sure you're right, we've seen they'll say she'd go, it's done, don't",
    "I'M YOU'RE WE'VE THEY'LL SHE'D IT'S DON'T",
    "'s 't 'd 'm 'll 've 're 'S 'LL",
    "''s '''t 'l 'lL 'v 'r",
    "rock'n'roll o'clock y'all",
    "curly apostrophe: it’s don’t you‘re",
    "backtick `s and prime ′s and modifier ʼs",
    "'",
    "'s",
    " 's",
    "x's",
    "abc123def 456ghi",
    "3.14159 1,000,000 12345678901234567890",
    "Arabic-Indic ٣٤٥ and Devanagari ४२",
    "fractions ½ ¾ superscript x² Roman Ⅻ circled ①",
    "👍🏽 👨‍👩‍👧‍👦 family 🇩🇪 flag I ❤️ NY ✅✅✅",
    "emoji🙂inside🙂words",
    "中文字符测试，包括标点。",
    "日本語のテキストとカタカナ",
    "한국어 텍스트입니다",
    "Ελληνικά русский English עברית العربية हिन्दी ไทย",
    "Привет, мир! Как дела?",
    "e\u0301 versus é",
    "Zalgo z̸̢̛̗a̷l̶g̵o",
    "\u0301 leading combining mark",
    "\x00",
    "a\x00b\x00\x00c",
    "\x01\x02\x1b[0m\x7f",
    "zero\u200bwidth space and \ufeffBOM",
    "Title case ǅ modifier ʰ letters",
    "replacement \ufffd character",
    "private use \ue000 and noncharacters \uffff \U0010ffff",
    "Unicode 17 Sidetic\U00010940\U00010941x: not letters for tiktoken yet",
    "<|endoftext|> is plain text here",
    "From: \"Alice\" <alice@example.com>\r\nSubject: =?UTF-8?B?SGVsbG8gV29ybGQ=?=\r\n\r\n",
    "Content-Transfer-Encoding: base64\r\n\r\nSGVsbG8sIHdvcmxkISBUaGlzIGlzIGEgdGVzdCBtZXNzYWdlLg==\r\n",
    "https://example.com/path/to/page?query=1&x=2#fragment",
    "<p style=\"color:red\">Win $1,000,000!!!</p>&nbsp;&amp;",
    "FREE!!! Call 0800-123-456 NOW!!! 100% GUARANTEED",
    "=" * 1000,
    " " * 100 + "x",
    "\n" * 50,
    "\t" * 40 + "end",
    " " * 3000,
    "a" * 3000,
    "ab" * 1500 + " " + "xyz" * 700,
    "1" * 500 + "a" * 500,
]

# Pools the random texts draw from, so they hit the pattern's edges far more often than uniform code points.
WHITESPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
POOLS = [
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
    " " * 8 + WHITESPACE,
    "'sdmtlvreSDMTLVRE",
    "!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~",
    "áéíóúñüßçÀÉÎÕÜ\u0300\u0301\u0308\u20dd",
    "中文日本語한국어ไทยالعربيةעבריתहिन्दी",
    "🙂👍🏽🎉💰❤\ufe0f🇩🇪\u200d",
    "٣٤٥४२½²Ⅻ①",
    "\x00\x01\x1b\x7f\u200b\ufeff\ufffd",
]


def random_code_point(rng: random.Random) -> str:
    while True:
        c = rng.randrange(0x110000)
        if not 0xD800 <= c <= 0xDFFF:
            return chr(c)


def random_texts(rng: random.Random, count: int) -> list[str]:
    texts = []
    for _ in range(count):
        chars = []
        for _ in range(rng.randrange(1, 60)):
            pool = rng.randrange(len(POOLS) + 1)
            chars.append(random_code_point(rng) if pool == len(POOLS) else rng.choice(POOLS[pool]))
        texts.append("".join(chars))
    return texts


INVALID_UTF8 = [
    b"\xff",
    b"abc\x80def",
    b"truncated \xe2\x82",
    b"truncated at end \xf0\x9f\x99",
    b"overlong \xc0\xaf and \xe0\x80\xaf",
    b"surrogate \xed\xa0\x80 encoded",
    b"beyond U+10FFFF \xf4\x90\x80\x80",
    b"latin-1 caf\xe9 na\xefve",
    b"\xfe\xfe\xff\xff mixed \xc3\xa9 valid",
    b"it\x92s a Windows-1252 apostrophe",
]


def random_bytes(rng: random.Random, count: int) -> list[bytes]:
    return [bytes(rng.choice([rng.randrange(256), rng.randrange(0x20, 0x7f)]) for _ in range(rng.randrange(1, 40)))
            for _ in range(count)]


# --- Unicode classes --------------------------------------------------------------------------------

def unicode_classes(chunk: int = 100_000):
    """Asks tiktoken itself which class each code point is in: a probe is one token exactly when the
    pattern keeps it in one piece. "a"+c is one piece iff c is \\p{L}, "1"+c iff \\p{N}, c+" " iff \\s."""
    code_points = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    classes = []
    for start in range(0, len(code_points), chunk):
        batch = code_points[start : start + chunk]
        probes = [probe for c in batch for probe in ("a" + chr(c), "1" + chr(c), chr(c) + " ")]
        ranks = {bytes([b]): b for b in range(256)}
        for probe in probes:
            ranks.setdefault(probe.encode(), len(ranks))
        encoding = tiktoken.Encoding(name="probe", pat_str=GPT2_PATTERN, mergeable_ranks=ranks, special_tokens={})
        results = encoding.encode_ordinary_batch(probes)
        for i, c in enumerate(batch):
            letter, number, space = (len(ids) == 1 for ids in results[3 * i : 3 * i + 3])
            assert letter + number + space <= 1, f"U+{c:04X} is in more than one class"
            classes.append("L" if letter else "N" if number else "S" if space else "O")
        print(f"  classified up to U+{batch[-1]:04X}", file=sys.stderr)
    ranges = []
    for c, cls in zip(code_points, classes):
        if ranges and ranges[-1][2] == cls and ranges[-1][1] == c - 1:
            ranges[-1][1] = c
        else:
            ranges.append([c, c, cls])
    return ranges


def main():
    default_gpt2 = os.environ.get("SPAMGUARD_GPT2_TOKENIZER") or str(ROOT.parent / "shared/tokenizer")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gpt2", type=Path, default=Path(default_gpt2), help="directory with gpt2.tiktoken")
    args = parser.parse_args()
    if not (args.gpt2 / "gpt2.tiktoken").is_file():
        sys.exit(f"no gpt2.tiktoken in {args.gpt2}: pass --gpt2 DIR or set SPAMGUARD_GPT2_TOKENIZER")

    rng = random.Random(20240611)
    small = write_small_vocabulary(learn_merges(training_text(rng), SMALL_MERGES))
    gpt2 = gpt2_encoding(args.gpt2)

    texts = TRICKY_TEXTS + random_texts(rng, 300)
    invalid = INVALID_UTF8 + random_bytes(rng, 100)
    # tiktoken takes text only: invalid UTF-8 is encoded as Python decodes it, each maximal invalid
    # subsequence becoming one U+FFFD (the Unicode-recommended practice, which Swift follows too).
    cases = {
        "texts": [{"text": t, "small": small.encode_ordinary(t), "gpt2": gpt2.encode_ordinary(t)}
                  | ({"pieces": pieces(t)} if len(t.encode()) <= 300 else {}) for t in texts],
        "invalidUTF8": [{"hex": b.hex(),
                         "small": small.encode_ordinary(b.decode("utf-8", "replace")),
                         "gpt2": gpt2.encode_ordinary(b.decode("utf-8", "replace"))} for b in invalid],
    }
    with open(FIXTURES / "cases.json", "w") as f:  # one case per line, to keep diffs readable
        f.write("{\n" + ",\n".join(
            f'"{key}": [\n' + ",\n".join(json.dumps(case) for case in value) + "\n]" for key, value in cases.items()
        ) + "\n}\n")

    with open(FIXTURES / "unicode-classes.txt", "w") as f:
        f.write("# first last class, hex code points; L \\p{L}, N \\p{N}, S \\s, O other (as tiktoken's gpt2 pattern sees them)\n")
        for first, last, cls in unicode_classes():
            f.write(f"{first:X} {last:X} {cls}\n")


if __name__ == "__main__":
    main()
