#!/usr/bin/python3
"""Random strings and SentencePiece's ids for them: an independent reference for cria's tokenizer.

    /usr/bin/python3 tools/make_spm_cases.py --tokenizer tokenizer.model --count N --seed S --output cases.json

Writes a JSON list of {"text": ..., "ids": [...]} with ids from Debian's python3-sentencepiece
(no BOS/EOS). The strings mix ASCII words, runs of spaces, newlines, tabs, control characters,
U+2581 itself, zero-width and BOM characters, accents, CJK, Hangul, emoji (with ZWJ sequences) and
random code points from every plane (no surrogates: SentencePiece's binding refuses them).
Exit code 3 when sentencepiece is not importable.
"""
import argparse
import json
import random
import sys

try:
    import sentencepiece
except ImportError:
    print("make_spm_cases: python3-sentencepiece is not installed", file=sys.stderr)
    sys.exit(3)

ATOMS = ["the", "The", " ", "  ", "\n", "\t", "a", "world", "Hello", "naïve", "café", "日本語", "한국어",
         "🙂", "👩\u200d💻", "\u0000", "\u0007", "x", "1234", "3.14", "<s>", "</s>", "<unk>", "\u2581", "ß",
         "Ω", "\r\n", "é", "\u00a0", "𝔘", "function", " return", "    ", "\u200b", "\ufeff", "ﬁ", "İ"]


def random_code_point(rng):
    while True:
        c = rng.choice([rng.randrange(0x80), rng.randrange(0x800), rng.randrange(0x10000), rng.randrange(0x110000)])
        if not 0xD800 <= c <= 0xDFFF:
            return chr(c)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--count", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--output", required=True)
    args = ap.parse_args()
    sp = sentencepiece.SentencePieceProcessor(model_file=args.tokenizer)
    rng = random.Random(args.seed)
    cases = []
    for _ in range(args.count):
        text = "".join(random_code_point(rng) if rng.random() < 0.2 else rng.choice(ATOMS)
                       for _ in range(rng.randrange(15)))
        cases.append({"text": text, "ids": sp.encode(text)})
    with open(args.output, "w", encoding="utf-8") as f:
        json.dump(cases, f)
    print(f"make_spm_cases: {len(cases)} cases, sentencepiece {sentencepiece.__version__}")


if __name__ == "__main__":
    main()
