"""The peer, side by side: spaCy's CNN NER (`--optimize efficiency`, no vectors) and `ner-backend
train` on the same GMB sentences, in one run on one CPU: training time, test micro-F1 (seqeval, on
the same words), and prediction speed over the same texts, ours as a server runs the version.

    .venv/bin/python bench/spacy_peer.py ../shared/data/gmb/ner_dataset.csv --spacy-python /tmp/spacy/bin/python

spaCy is not one of our dependencies: give the Python of a virtual environment that has it
(`python3.11 -m venv /tmp/spacy && /tmp/spacy/bin/pip install 'spacy>=3.8,<3.9'`). Its part runs in
that interpreter (bench/spacy_side.py) on files this script writes. Train: GMB sentences 1..N
(default 2,000); spaCy's dev (which it needs to pick its best step): N+1..N+500; test: 39001-40000.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from backend.ner.evaluation import evaluate_model, score
from backend.ner.fastpath import load_served
from backend.ner.readers import read_gmb
from backend.ops.processes import scratch_folder

HERE = Path(__file__).resolve().parent


def ours(train_csv: Path, test, work: Path, epochs: int) -> dict:
    """`ner-backend train` with its defaults for a corpus (as in docs/benchmarks.md, "2,000 training sentences")."""
    out = work / "ours"
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "backend.cli", "train", "--data", str(train_csv), "--epochs", str(epochs),
                    "--out", str(out)], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    train_s = time.monotonic() - started
    predictor = load_served(out, "auto")  # as a server here runs it: the version's fast-path pick
    figures = evaluate_model(predictor, test)
    texts = [" ".join(s.words) for s in test]
    predictor.predict(texts[:32])  # warm
    started = time.monotonic()
    predictor.predict(texts)
    return {"train_s": round(train_s, 1), "f1": figures["f1"], "precision": figures["precision"],
            "recall": figures["recall"], "texts_per_s": round(len(texts) / (time.monotonic() - started), 1),
            "served_in": predictor.precision}


def spacy(python: str, train, dev, test, work: Path) -> dict:
    """spaCy's run (bench/spacy_side.py in its interpreter), its tags scored with our seqeval."""
    for name, sentences in (("train", train), ("dev", dev), ("test", test)):
        (work / f"{name}.json").write_text(json.dumps([[s.words, s.tags] for s in sentences]))
    done = subprocess.run([python, str(HERE / "spacy_side.py"), str(work)], check=True, capture_output=True, text=True)
    row = json.loads(done.stdout.strip().splitlines()[-1])
    figures = score([s.tags for s in test], row.pop("tags"))
    return {**row, "f1": figures["f1"], "precision": figures["precision"], "recall": figures["recall"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("gmb", help="ner_dataset.csv")
    ap.add_argument("--spacy-python", required=True, help="a Python with spaCy 3.8 installed")
    ap.add_argument("--train", type=int, default=2000, help="training sentences (GMB 1..N)")
    ap.add_argument("--epochs", type=int, default=3, help="our epochs (the 2,000-sentence recipe: 3)")
    args = ap.parse_args()
    corpus = read_gmb(Path(args.gmb))
    train, dev, test = corpus[: args.train], corpus[args.train : args.train + 500], corpus[39000:40000]
    with scratch_folder("spacy-peer") as work:
        subprocess.run([sys.executable, str(HERE / "gmb_slice.py"), args.gmb, str(work / "train.csv"), "--first", "1",
                        "--last", str(args.train)], check=True)
        rows = {"ours": ours(work / "train.csv", test, work, args.epochs),
                "spacy": spacy(args.spacy_python, train, dev, test, work)}
    print(json.dumps(rows))
    flags = " ".join(f for f in ("amx_bf16", "avx512_bf16", "avx512_vnni", "avx2") if f in Path("/proc/cpuinfo").read_text())
    print(f"\n{os.cpu_count()} CPU cores ({platform.machine()}, {flags}); train: GMB 1-{args.train}; "
          f"test: 39001-40000 ({len(test)} sentences)\n")
    print("| | training | test micro-F1 (P / R) | prediction, texts/s |")
    print("|---|---:|---:|---:|")
    for name, r in (("ner-backend (MiniLM, " + rows["ours"]["served_in"] + ")", rows["ours"]),
                    (f"spaCy {rows['spacy']['version']} CNN NER", rows["spacy"])):
        print(f"| {name} | {r['train_s']} s | {r['f1']:.3f} ({r['precision']:.3f} / {r['recall']:.3f}) | {r['texts_per_s']} |")
    o, s = rows["ours"], rows["spacy"]
    print(f"\nratios, ours / spaCy: training time {o['train_s'] / s['train_s']:.2f}x, F1 {o['f1'] - s['f1']:+.3f}, "
          f"prediction speed {o['texts_per_s'] / s['texts_per_s']:.2f}x")


if __name__ == "__main__":
    main()
