"""The CPU engines alone on one version: ONNX Runtime int8 against OpenVINO bf16, the same batches.

    python bench/engines.py ../shared/data/gmb/ner_dataset.csv --model DIR [--texts 512]

DIR is a version whose check kept both files (model.int8.onnx, model.ov.xml: a CPU with bf16 in
hardware and both packages). Sentences are sorted by length and run in padded batches of 16, as a
serving process runs them; no tokenizing, decoding or HTTP is timed. Prints texts/s per engine
(median of interleaved rounds) and how often each engine's argmax tag agrees with torch fp32's.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from backend.ner.batching import pad_batch
from backend.ner.checkpoint import load_model
from backend.ner.onnxengine import INT8_FILE, OnnxEngine
from backend.ner.ovengine import OV_FILE, OvEngine
from backend.ner.readers import read_corpus


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("gmb_csv")
    ap.add_argument("--model", required=True)
    ap.add_argument("--texts", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    ner = load_model(args.model, device=torch.device("cpu"))
    sentences = [s.words for s in read_corpus(args.gmb_csv, "gmb", limit=args.texts)]
    rows = [{"input_ids": ids} for ids in ner.tokenizer(sentences, is_split_into_words=True)["input_ids"]]
    rows.sort(key=lambda r: len(r["input_ids"]))
    batches = [pad_batch(rows[i : i + 16], ner.tokenizer.pad_token_id or 0) for i in range(0, len(rows), 16)]
    engines = {"int8 (ONNX Runtime)": OnnxEngine(Path(args.model) / INT8_FILE),
               "ov-bf16 (OpenVINO)": OvEngine(Path(args.model) / OV_FILE)}
    with torch.no_grad():
        exact = [ner.model(**b).logits.argmax(-1).numpy() for b in batches]
    for name, engine in engines.items():
        agree = [(engine.logits(b).argmax(-1) == tags)[b["attention_mask"].numpy().astype(bool)]
                 for b, tags in zip(batches, exact)]
        print(f"{name}: argmax tags agreeing with torch fp32's on {100 * np.concatenate(agree).mean():.2f} % of tokens")
    times: dict[str, list[float]] = {name: [] for name in engines}
    for _ in range(args.repeats):  # interleaved, so the machine's noise hits both alike
        for name, engine in engines.items():
            started = time.perf_counter()
            for b in batches:
                engine.logits(b)
            times[name].append(time.perf_counter() - started)
    for name, values in times.items():
        print(f"| {name} | {len(rows) / statistics.median(values):.0f} texts/s |")


if __name__ == "__main__":
    main()
