#!/usr/bin/python3
"""Expected Megatron-Core blending indices for cria's tests.

Writes cria-data/src/test/resources/fixtures/blend_vectors.json with, per case, the
raw weights, the target size, the per-dataset sizes Megatron builds
(_get_size_per_split_per_dataset with surplus 0.005) and the dataset_index /
dataset_sample_index of helpers.cpp's build_blending_indices, written out
here in Python with numpy's normalize (x / numpy.sum(x)).

  /usr/bin/python3 tools/make_blend_vectors.py
"""
import json
import math
import os

import numpy


def normalize(weights):
    w = numpy.array(weights, dtype=numpy.float64)
    return (w / numpy.sum(w)).tolist()


def part_sizes(weights, target, surplus):
    return [int(math.ceil(math.ceil(target * w) * (1 + surplus))) for w in weights]


def blending_indices(weights, size):
    current = [0] * len(weights)
    dataset_index, sample_index = [], []
    for i in range(size):
        at = max(float(i), 1.0)
        worst, worst_error = 0, weights[0] * at - current[0]
        for d in range(1, len(weights)):
            error = weights[d] * at - current[d]
            if error > worst_error:
                worst, worst_error = d, error
        dataset_index.append(worst)
        sample_index.append(current[worst])
        current[worst] += 1
    return dataset_index, sample_index


cases = []
for raw, target in [([0.3, 0.7], 40), ([1, 1, 1], 50), ([0.5, 0.25, 0.125, 0.125], 64), ([3, 1], 17)]:
    w = normalize(raw)  # the builder normalizes
    targets = [int(math.ceil(target * x)) for x in w]
    size = sum(targets)
    d, s = blending_indices(normalize(w), size)  # and BlendedDataset normalizes again
    cases.append({"weights": raw, "target": target, "part_sizes": part_sizes(w, target, 0.005),
                  "size": size, "dataset_index": d, "dataset_sample_index": s})
out = os.path.join(os.path.dirname(__file__), "..", "cria-data", "src", "test", "resources", "fixtures",
                   "blend_vectors.json")
with open(out, "w") as f:
    json.dump({"source": "tools/make_blend_vectors.py", "cases": cases}, f)
print(f"wrote {len(cases)} cases to {os.path.normpath(out)}")
