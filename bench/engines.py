"""The CPU engines alone on one version: ONNX Runtime int8 against OpenVINO bf16, the same batches.

    python bench/engines.py ../shared/data/gmb/ner_dataset.csv --model DIR [--texts 512]

DIR is a version; an engine file its check did not keep (model.int8.onnx, model.ov.xml) is
exported from it into a scratch folder. Sentences are sorted by length and run in padded batches of
16, as a serving process runs them; no tokenizing, decoding or HTTP is timed. Prints texts/s per
engine (median of interleaved rounds) and how often each engine's argmax tag agrees with torch
fp32's.
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
from backend.ner import onnxengine, ovengine
from backend.ner.onnxengine import INT8_FILE, OnnxEngine
from backend.ner.ovengine import OV_FILE, OvEngine
from backend.ner.readers import read_corpus
from backend.ops.processes import scratch_folder
from predict_http import apply_quick, model_arguments


def main() -> None:
    args = model_arguments(__doc__, texts=512)
    with scratch_folder("engines") as work:
        apply_quick(args, work)
        run(args, Path(args.model), work)


def run(args: argparse.Namespace, folder: Path, work: Path) -> None:
    ner = load_model(folder, device=torch.device("cpu"))
    sentences = [s.words for s in read_corpus(args.gmb_csv, "gmb", limit=args.texts)]
    rows = [{"input_ids": ids} for ids in ner.tokenizer(sentences, is_split_into_words=True)["input_ids"]]
    rows.sort(key=lambda r: len(r["input_ids"]))
    batches = [pad_batch(rows[i : i + 16], ner.tokenizer.pad_token_id or 0) for i in range(0, len(rows), 16)]
    int8, ov = folder / INT8_FILE, folder / OV_FILE
    engines = {"int8 (ONNX Runtime)": OnnxEngine(int8 if int8.is_file() else onnxengine.export_int8(ner.model, work)),
               "ov-bf16 (OpenVINO)": OvEngine(ov if ov.is_file() else ovengine.export(ner.model, work))}
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
