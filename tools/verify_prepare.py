#!/usr/bin/python3
"""Independent reference check for the output of ``cria prepare``.

``cria prepare`` reads JSONL(.gz) documents, tokenizes the text of each one with
the Llama-2 SentencePiece model (no BOS), skips documents whose ids are empty,
appends the EOS id when ``--append-eod`` is given, and writes a Megatron
MMIDIDX v1 indexed dataset ``PREFIX_text_document.bin`` / ``.idx``.

This script re-does the tokenization with the SentencePiece C++ library (through
its Python binding) and compares, document by document, with what cria wrote.
It reads the .idx/.bin with its own small numpy reader (no Megatron import) and
checks:

  * the .idx header: magic, version 1, dtype (uint16 when the vocabulary has
    fewer than 65500 pieces, else int32, as Megatron's best_fitting_dtype);
  * the number of documents and every document's ids;
  * doc_idx == [0, 1, ..., N];
  * pointers[0] == 0 and pointers[i+1] == pointers[i] + sizes[i] * itemsize;
  * the .idx has no trailing bytes and the .bin is exactly sum(sizes) tokens.

Usage:

  /usr/bin/python3 tools/verify_prepare.py --input FILE.jsonl[.gz] [FILE2 ...] \\
      --tokenizer path/to/tokenizer.model --prefix OUT_text_document \\
      [--json-key text] [--append-eod]

  /usr/bin/python3 tools/verify_prepare.py --dump --prefix OUT_text_document \\
      [--dump-docs 5] [--tokenizer tokenizer.model]

Input files are read in the order given; whitespace-only lines are ignored
(they are not JSON documents) but still counted in the reported line numbers.

Exit status: 0 all identical; 1 mismatch (the first one is reported; a malformed
.idx/.bin counts as a mismatch); 2 usage error, missing file, or bad input JSONL;
3 cannot check (sentencepiece or numpy not importable).
"""

import argparse
import gzip
import json
import os
import sys

EXIT_OK = 0
EXIT_MISMATCH = 1
EXIT_ERROR = 2
EXIT_CANNOT_CHECK = 3

try:
    import numpy as np
except ImportError as e:  # pragma: no cover
    print("verify_prepare: CANNOT CHECK: numpy is not importable (%s); "
          "on Debian: apt-get install python3-numpy and run with /usr/bin/python3" % e,
          file=sys.stderr)
    sys.exit(EXIT_CANNOT_CHECK)

MAGIC = b"MMIDIDX\x00\x00"
# Megatron's DType codes (megatron/core/datasets/indexed_dataset.py).
DTYPES = {
    1: np.uint8,
    2: np.int8,
    3: np.int16,
    4: np.int32,
    5: np.int64,
    6: np.float64,
    7: np.float64,  # historical: code 7 was float32 in old versions, float64 in Megatron-LM
    8: np.uint16,
}
CONTEXT = 10  # ids of context shown on each side of the first difference


class InputError(Exception):
    """Bad input JSONL (exit 2)."""


class DatasetFormatError(Exception):
    """Malformed .idx/.bin written by cria (a mismatch: exit 1)."""


class IndexedDataset:
    """Minimal reader for a Megatron MMIDIDX v1 dataset (PREFIX.idx + PREFIX.bin)."""

    def __init__(self, prefix):
        self.idx_path = prefix + ".idx"
        self.bin_path = prefix + ".bin"
        with open(self.idx_path, "rb") as f:
            raw = f.read()
        if len(raw) < 34:
            raise DatasetFormatError("%s: %d bytes, too short for an MMIDIDX header" % (self.idx_path, len(raw)))
        if raw[:9] != MAGIC:
            raise DatasetFormatError("%s: bad magic %r (expected %r)" % (self.idx_path, raw[:9], MAGIC))
        self.version = int(np.frombuffer(raw, "<u8", 1, 9)[0])
        if self.version != 1:
            raise DatasetFormatError("%s: version %d (expected 1)" % (self.idx_path, self.version))
        self.dtype_code = raw[17]
        if self.dtype_code not in DTYPES:
            raise DatasetFormatError("%s: unknown dtype code %d" % (self.idx_path, self.dtype_code))
        self.dtype = np.dtype(DTYPES[self.dtype_code]).newbyteorder("<")
        self.num_sequences = int(np.frombuffer(raw, "<u8", 1, 18)[0])
        self.num_docs_entries = int(np.frombuffer(raw, "<u8", 1, 26)[0])
        n, m = self.num_sequences, self.num_docs_entries
        off = 34
        expected_len = off + 4 * n + 8 * n + 8 * m
        if len(raw) != expected_len:
            raise DatasetFormatError("%s: %d bytes, header (N=%d, M=%d) implies %d bytes"
                              % (self.idx_path, len(raw), n, m, expected_len))
        self.sizes = np.frombuffer(raw, "<i4", n, off)
        off += 4 * n
        self.pointers = np.frombuffer(raw, "<i8", n, off)
        off += 8 * n
        self.doc_idx = np.frombuffer(raw, "<i8", m, off)
        self.bin_bytes = os.path.getsize(self.bin_path)
        count = self.bin_bytes // self.dtype.itemsize
        if count == 0:
            self.tokens = np.zeros(0, self.dtype)
        else:
            self.tokens = np.memmap(self.bin_path, dtype=self.dtype, mode="r", shape=(count,))

    def __len__(self):
        return self.num_sequences

    def __getitem__(self, i):
        start = int(self.pointers[i]) // self.dtype.itemsize
        return self.tokens[start:start + int(self.sizes[i])]

    def structural_problems(self):
        """Return a list of problems with sizes/pointers/doc_idx/.bin length (empty if fine)."""
        problems = []
        n = self.num_sequences
        item = self.dtype.itemsize
        sizes = self.sizes.astype(np.int64)
        if n and (sizes < 0).any():
            i = int(np.argmax(sizes < 0))
            problems.append("sizes[%d] = %d is negative" % (i, sizes[i]))
        expected_ptr = np.zeros(n, np.int64)
        if n > 1:
            np.cumsum(sizes[:-1] * item, out=expected_ptr[1:])
        bad = np.nonzero(self.pointers != expected_ptr)[0]
        if bad.size:
            i = int(bad[0])
            problems.append("pointers[%d] = %d, expected %d (= sum of sizes[:%d] * %d); %d bad pointers"
                            % (i, self.pointers[i], expected_ptr[i], i, item, bad.size))
        total = int(sizes.sum())
        if self.bin_bytes != total * item:
            problems.append("%s is %d bytes (%d %s tokens), sizes sum to %d tokens (%d bytes)"
                            % (self.bin_path, self.bin_bytes, self.bin_bytes // item, self.dtype.name,
                               total, total * item))
        expected_doc_idx = np.arange(n + 1, dtype=np.int64)
        if self.num_docs_entries != n + 1 or not np.array_equal(self.doc_idx, expected_doc_idx):
            head = self.doc_idx[:12].tolist()
            problems.append("doc_idx (%d entries, starts %s) is not [0..%d]"
                            % (self.num_docs_entries, head, n))
        return problems

    def header_text(self):
        return ("%s: magic=%r version=%d dtype_code=%d (%s) num_sequences=%d num_doc_idx=%d; "
                "%s: %d tokens"
                % (self.idx_path, MAGIC, self.version, self.dtype_code, self.dtype.name,
                   self.num_sequences, self.num_docs_entries, self.bin_path, self.tokens.size))


def strip_prefix(prefix):
    for ext in (".idx", ".bin"):
        if prefix.endswith(ext):
            return prefix[:-len(ext)]
    return prefix


def open_text(path):
    if path.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, "r", encoding="utf-8")


def iter_documents(paths, key):
    """Yield (path, line_number, text) for every JSON document, in order."""
    for path in paths:
        with open_text(path) as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as e:
                    raise InputError("%s:%d: invalid JSON: %s" % (path, lineno, e))
                if not isinstance(obj, dict) or key not in obj:
                    raise InputError("%s:%d: no key %r" % (path, lineno, key))
                text = obj[key]
                if not isinstance(text, str):
                    raise InputError("%s:%d: %r is %s, not a string" % (path, lineno, key, type(text).__name__))
                yield path, lineno, text


def pieces(sp, ids):
    if sp is None:
        return ""
    out = []
    for i in ids:
        i = int(i)
        out.append(sp.id_to_piece(i) if 0 <= i < sp.vocab_size() else "<out of vocab %d>" % i)
    return " ".join(repr(p) for p in out)


def first_difference(a, b):
    n = min(len(a), len(b))
    if n:
        neq = np.nonzero(np.asarray(a[:n], np.int64) != np.asarray(b[:n], np.int64))[0]
        if neq.size:
            return int(neq[0])
    return n


def report_doc_mismatch(doc, path, lineno, text, expected, actual, sp):
    pos = first_difference(expected, actual)
    lo, hi = max(0, pos - CONTEXT), min(pos + CONTEXT, max(len(expected), len(actual)))
    exp_ctx = [int(x) for x in expected[lo:hi]]
    act_ctx = [int(x) for x in actual[lo:hi]]
    print("verify_prepare: MISMATCH in document %d (%s line %d)" % (doc, path, lineno))
    print("  lengths: SentencePiece %d ids, cria %d ids" % (len(expected), len(actual)))
    print("  first differing position: %d (SentencePiece %s, cria %s)"
          % (pos,
             int(expected[pos]) if pos < len(expected) else "<end>",
             int(actual[pos]) if pos < len(actual) else "<end>"))
    print("  context ids [%d:%d]:" % (lo, hi))
    print("    SentencePiece: %s" % exp_ctx)
    print("    cria:          %s" % act_ctx)
    print("  context pieces:")
    print("    SentencePiece: %s" % pieces(sp, exp_ctx))
    print("    cria:          %s" % pieces(sp, act_ctx))
    # Rough location in the text: decode the ids before the difference.
    if sp is not None and pos > 0:
        prefix_ids = [int(x) for x in expected[:pos] if 0 <= int(x) < sp.vocab_size()]
        char_pos = len(sp.decode(prefix_ids))
        print("  text around char ~%d: %r" % (char_pos, text[max(0, char_pos - 60):char_pos + 60]))


def dump(args, sp):
    ds = IndexedDataset(strip_prefix(args.prefix))
    print(ds.header_text())
    print("documents: %d" % len(ds))
    print("sizes[:%d]: %s" % (min(len(ds), 20), ds.sizes[:20].tolist()))
    print("pointers[:%d]: %s" % (min(len(ds), 20), ds.pointers[:20].tolist()))
    print("doc_idx[:%d]: %s" % (min(ds.num_docs_entries, 21), ds.doc_idx[:21].tolist()))
    for i in range(min(args.dump_docs, len(ds))):
        ids = ds[i].tolist()
        print("doc %d (%d ids): %s" % (i, len(ids), ids))
        if sp is not None:
            print("    pieces: %s" % pieces(sp, ids))
            print("    decoded: %r" % sp.decode([x for x in ids if 0 <= x < sp.vocab_size()]))
    problems = ds.structural_problems()
    for p in problems:
        print("structure problem: %s" % p)
    if not problems:
        print("structure: OK (pointers consistent with sizes, doc_idx == [0..%d], .bin length matches)" % len(ds))
    return EXIT_MISMATCH if problems else EXIT_OK


def load_sentencepiece(model_path):
    try:
        import sentencepiece as spm
    except ImportError as e:
        print("verify_prepare: CANNOT CHECK: the sentencepiece module is not importable (%s); "
              "on Debian: apt-get install python3-sentencepiece and run with /usr/bin/python3" % e,
              file=sys.stderr)
        sys.exit(EXIT_CANNOT_CHECK)
    return spm, spm.SentencePieceProcessor(model_file=model_path)


def verify(args):
    spm, sp = load_sentencepiece(args.tokenizer)
    eos = sp.eos_id()
    if args.append_eod and eos < 0:
        print("verify_prepare: the model has no EOS piece, cannot --append-eod", file=sys.stderr)
        return EXIT_ERROR
    ds = IndexedDataset(strip_prefix(args.prefix))

    vocab = sp.vocab_size()
    expected_dtype = np.dtype(np.uint16 if vocab < 65500 else np.int32)
    if ds.dtype != expected_dtype:
        print("verify_prepare: MISMATCH dtype: .idx says code %d (%s), expected %s for vocab size %d"
              % (ds.dtype_code, ds.dtype.name, expected_dtype.name, vocab))
        return EXIT_MISMATCH
    problems = ds.structural_problems()
    if problems:
        print("verify_prepare: MISMATCH in the index structure:")
        for p in problems:
            print("  " + p)
        return EXIT_MISMATCH

    doc = 0       # index of the next non-skipped document (= sequence in the dataset)
    skipped = 0   # documents whose ids were empty
    lines = 0
    tokens = 0
    last_loc = None
    for path, lineno, text in iter_documents(args.input, args.json_key):
        lines += 1
        last_loc = (path, lineno)
        try:
            ids = sp.encode(text)  # out_type=int, no BOS/EOS
        except (UnicodeError, TypeError) as e:
            # e.g. a lone surrogate from a JSON "\\ud800" escape: the binding cannot turn it
            # into UTF-8 and raises TypeError("not a string"); Megatron would crash the same way.
            raise InputError("%s:%d: SentencePiece cannot encode the text (lone surrogate?): %s"
                             % (path, lineno, e))
        if not ids:
            skipped += 1
            continue
        if args.append_eod:
            ids.append(eos)
        if doc >= len(ds):
            print("verify_prepare: MISMATCH number of documents: the dataset has %d, but input "
                  "document %d (%s line %d) is non-empty too (%d ids, starts %s)"
                  % (len(ds), doc, path, lineno, len(ids), ids[:CONTEXT]))
            return EXIT_MISMATCH
        actual = ds[doc]
        if len(actual) != len(ids) or not np.array_equal(actual, np.asarray(ids, dtype=actual.dtype)) \
                or max(ids) > np.iinfo(actual.dtype).max:
            report_doc_mismatch(doc, path, lineno, text, ids, actual, sp)
            return EXIT_MISMATCH
        tokens += len(ids)
        doc += 1
    if doc != len(ds):
        print("verify_prepare: MISMATCH number of documents: %d non-empty input documents "
              "(%d lines read, %d empty skipped, last %s), the dataset has %d; first extra "
              "dataset document %d has %d ids, starts %s"
              % (doc, lines, skipped, "%s line %d" % last_loc if last_loc else "none", len(ds),
                 doc, len(ds[doc]), ds[doc][:CONTEXT].tolist()))
        return EXIT_MISMATCH
    print("verify_prepare: OK %d documents, %d tokens identical to SentencePiece %s "
          "(%s, %d empty documents skipped%s)"
          % (doc, tokens, getattr(spm, "__version__", "?"), ds.dtype.name, skipped,
             ", EOS %d appended" % eos if args.append_eod else ""))
    return EXIT_OK


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--input", nargs="+", metavar="FILE", help="JSONL or JSONL.gz input files, in order")
    p.add_argument("--tokenizer", metavar="MODEL", help="SentencePiece tokenizer.model")
    p.add_argument("--prefix", required=True,
                   help="dataset prefix, e.g. out/brown_text_document (without .bin/.idx)")
    p.add_argument("--json-key", default="text", help="key holding the text (default: text)")
    p.add_argument("--append-eod", action="store_true", help="expect the EOS id after every document")
    p.add_argument("--dump", action="store_true",
                   help="only read the dataset: print the header, sizes, and the first documents' ids "
                        "(decoded too if --tokenizer is given); checks structure only")
    p.add_argument("--dump-docs", type=int, default=5, metavar="K",
                   help="number of documents printed by --dump (default 5)")
    args = p.parse_args(argv)
    try:
        if args.dump:
            sp = load_sentencepiece(args.tokenizer)[1] if args.tokenizer else None
            return dump(args, sp)
        if not args.input or not args.tokenizer:
            p.error("--input and --tokenizer are required unless --dump is given")
        return verify(args)
    except DatasetFormatError as e:
        print("verify_prepare: MISMATCH malformed dataset: %s" % e)
        return EXIT_MISMATCH
    except (OSError, InputError, UnicodeError) as e:
        print("verify_prepare: ERROR: %s" % e, file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception:  # never let a crash exit with 1, which means "mismatch"
        import traceback
        traceback.print_exc()
        sys.exit(EXIT_ERROR)
