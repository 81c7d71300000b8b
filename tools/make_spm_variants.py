#!/usr/bin/python3
"""SentencePiece BPE models unlike Llama's, and SentencePiece's ids for random strings in each.

    /usr/bin/python3 tools/make_spm_variants.py --corpus data/sample/brown.jsonl.gz --output DIR

Trains small BPE models with Debian's python3-sentencepiece on the first lines of a JSONL corpus
(the lines of its "text" fields), each with options Llama's model does not use, so that cria's tokenizer is
checked on the paths Llama never takes:

  plain     no byte fallback (unknown characters become <unk>), no dummy prefix, extra whitespace
            removed, digits split, user-defined pieces (matched whole, never merged) and a control
            piece
  nosplit   byte fallback, split_by_whitespace off (pieces may cross words), a user-defined piece
            that is also a prefix of another, spaces kept as they are
  unused    the nosplit model with some merged pieces marked UNUSED in the model file: SentencePiece
            splits such a piece back into the two it was merged from
  noescape  the nosplit model with escape_whitespaces off in the model file: spaces stay spaces

Writes DIR/<name>.model and DIR/<name>.json (a list of {"text", "ids"}, no BOS/EOS).
Exit code 3 when sentencepiece is not importable.
"""
import argparse
import gzip
import json
import os
import random
import sys

try:
    import sentencepiece
    from sentencepiece import sentencepiece_model_pb2 as model_pb2
except ImportError:
    print("make_spm_variants: python3-sentencepiece is not installed", file=sys.stderr)
    sys.exit(3)

ATOMS = ["the", "The", " ", "  ", "   ", "\n", "\t", "a", "of", "and", "tion", "ing", "2024", "3.14",
         "<sep>", "<ctl>", "[[", "[[x]]", "@@", "naïve", "日本", "🙂", "\u2581", "é", "\u0000", "x y",
         "in the", "ofthe", "<unk>", "<s>", "  the  "]


def corpus_lines(path, count):
    """The first count non-empty lines of the documents' texts (a document is too long a sentence)."""
    lines = []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for document in f:
            lines += [line for line in json.loads(document)["text"].split("\n") if line.strip()]
            if len(lines) >= count:
                break
    return lines[:count]


def train(sentences, prefix, **options):
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences), model_prefix=prefix, model_type="bpe",
        normalization_rule_name="identity", character_coverage=0.9995, minloglevel=2,
        hard_vocab_limit=False, **options)
    return prefix + ".model"


def edit(source, target, change):
    m = model_pb2.ModelProto()
    with open(source, "rb") as f:
        m.ParseFromString(f.read())
    change(m)
    with open(target, "wb") as f:
        f.write(m.SerializeToString())


def mark_unused(m):
    # every seventh multi-character normal piece: SentencePiece re-splits them when encoding
    normal = [p for p in m.pieces if p.type == model_pb2.ModelProto.SentencePiece.NORMAL and len(p.piece) > 1]
    for p in normal[::7]:
        p.type = model_pb2.ModelProto.SentencePiece.UNUSED


def no_escape(m):
    m.normalizer_spec.escape_whitespaces = False


def cases(model, rng, count):
    sp = sentencepiece.SentencePieceProcessor(model_file=model)
    out = []
    for _ in range(count):
        parts = []
        for _ in range(rng.randrange(12)):
            r = rng.random()
            if r < 0.1:
                parts.append(chr(rng.randrange(0x20, 0x3000)))
            else:
                parts.append(rng.choice(ATOMS))
        text = "".join(parts)
        out.append({"text": text, "ids": sp.encode(text)})
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--output", required=True)
    ap.add_argument("--lines", type=int, default=3000)
    ap.add_argument("--count", type=int, default=1500)
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args()
    os.makedirs(args.output, exist_ok=True)
    sentences = list(corpus_lines(args.corpus, args.lines))
    out = lambda name: os.path.join(args.output, name)
    models = {
        "plain": train(sentences, out("plain"), vocab_size=600, byte_fallback=False,
                       add_dummy_prefix=False, remove_extra_whitespaces=True, split_digits=True,
                       user_defined_symbols=["<sep>", "[[", "@@"], control_symbols=["<ctl>"]),
        "nosplit": train(sentences, out("nosplit"), vocab_size=700, byte_fallback=True,
                         add_dummy_prefix=True, remove_extra_whitespaces=False,
                         split_by_whitespace=False, user_defined_symbols=["[[", "[[x]]"]),
    }
    edit(models["nosplit"], out("unused.model"), mark_unused)
    models["unused"] = out("unused.model")
    edit(models["nosplit"], out("noescape.model"), no_escape)
    models["noescape"] = out("noescape.model")
    rng = random.Random(args.seed)
    for name, model in models.items():
        with open(out(name + ".json"), "w", encoding="utf-8") as f:
            json.dump(cases(model, rng, args.count), f)
    os.remove(out("plain.vocab"))
    os.remove(out("nosplit.vocab"))
    print(f"make_spm_variants: {', '.join(models)}; {args.count} cases each, "
          f"sentencepiece {sentencepiece.__version__}")


if __name__ == "__main__":
    main()
