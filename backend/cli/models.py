"""Models from corpora: `train`, `evaluate`, `predict` and `check` (a folder's fast paths)."""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import time
from pathlib import Path

from ..clock import utc_now
from ..config import Settings
from ..ner.readers import FORMATS, read_corpus
from .common import CliError, data_args

log = logging.getLogger("ner_backend")
# `train` holds out this share by default: it stops the training at its best epoch and is the
# evidence that lets servers use the int8 path (the demo model: 5.97x the per-task pipeline, against
# 1.84x unchecked in fp32; docs/benchmarks.md).
DEV_FRACTION = 0.1


def register(sub) -> None:
    t = sub.add_parser("train", help="fine-tune a model on a BIO corpus")
    data_args(t)
    t.add_argument("--out", required=True, help="model folder to write (replaced atomically)")
    t.add_argument("--base-model", help="HF folder or id (default: BASE_MODEL, else the packaged MiniLM)")
    t.add_argument("--epochs", type=int, default=0,
                   help="passes over the data (default 0: the worker's recipe, about 200 steps, 3 to 200 epochs)")
    t.add_argument("--lr", type=float, default=2e-4, help="peak learning rate")
    t.add_argument("--batch-size", type=int, default=16)
    t.add_argument("--max-length", type=int, default=256, help="tokens per training window")
    t.add_argument("--dev-fraction", type=float, default=DEV_FRACTION,
                   help=f"share held out to stop early and to check the fast path on (default {DEV_FRACTION}; "
                        "0 trains on everything and serves fp32 until `check`)")
    t.add_argument("--patience", type=int, default=1, help="epochs without dev-F1 gain before stopping")
    t.add_argument("--label-all-tokens", action="store_true", help="train every sub-token (I- form)")
    t.add_argument("--seed", type=int, default=42)
    t.set_defaults(run=cmd_train)

    e = sub.add_parser("evaluate", help="score a model on a BIO corpus with seqeval")
    e.add_argument("--model", required=True, help="model folder from `train`")
    data_args(e)
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.set_defaults(run=cmd_evaluate)

    pr = sub.add_parser("predict", help="one text per stdin line -> one JSON line of spans per text")
    pr.add_argument("--model", required=True, help="model folder from `train`")
    pr.add_argument("--batch-lines", type=int, default=256, help="texts read before each batched run")
    pr.set_defaults(run=cmd_predict)

    c = sub.add_parser("check", help="check a model folder's fast paths (int8, OpenVINO bf16, bf16) so that servers may use them")
    c.add_argument("--model", required=True, help="model folder from `train` or the worker")
    c.add_argument("--data", help="held-out gold corpus (default: the sentences `train` held out and kept)")
    c.add_argument("--format", choices=FORMATS, help="corpus format (default: inferred from the file)")
    c.add_argument("--limit", type=int, help="use only the first N sentences")
    c.set_defaults(run=cmd_check)


def _split(sentences: list, fraction: float, seed: int) -> tuple[list, list]:
    """A deterministic shuffle-and-split: the same data and seed always hold out the same sentences."""
    if not 0.0 <= fraction < 1.0:
        raise CliError(f"--dev-fraction must be in [0, 1), got {fraction}")
    if fraction == 0.0:
        return sentences, []
    order = list(range(len(sentences)))
    random.Random(seed).shuffle(order)
    n_dev = max(1, round(len(sentences) * fraction))
    dev = sorted(order[:n_dev])
    keep = sorted(order[n_dev:])
    if not keep:
        raise CliError("--dev-fraction leaves no training data")
    return [sentences[i] for i in keep], [sentences[i] for i in dev]


def cmd_train(args: argparse.Namespace, settings: Settings) -> int:
    from worker.training.loop import TrainConfig, config_dict, fine_tune
    from worker.training.recipe import auto_epochs

    from ..ner.basemodel import DEFAULT_BASE
    from ..ner import fastpath

    sentences = read_corpus(args.data, args.format, args.limit)
    train, dev = _split(sentences, args.dev_fraction, args.seed)
    base = args.base_model or settings.base_model or DEFAULT_BASE
    config = TrainConfig(
        epochs=args.epochs or auto_epochs(len(train), args.batch_size),
        learning_rate=args.lr,
        batch_size=args.batch_size,
        max_length=args.max_length,
        label_all_tokens=args.label_all_tokens,
        seed=args.seed,
        patience=args.patience,
        precision=settings.precision,
    )
    log.info("training on %d sentences (%d held out) from %s, base %s", len(train), len(dev), args.data, base)
    result = fine_tune(train, config, base_model=base, dev=dev or None)
    result.ner.span_score = settings.span_score  # the score it shows, as the worker's versions do
    metrics = {
        **(result.dev_metrics or {}),
        "evaluated_on": "dev" if dev else None,
        "train_sentences": len(train),
        "dev_sentences": len(dev),
        "data": str(args.data),
        "base_model": base,
        "labels": list(result.ner.labels.labels),
        "config": config_dict(config),
        "created_at": utc_now(),
        **result.summary(),
    }
    def with_serving(choice: fastpath.ServingChoice) -> dict:
        return {**metrics, fastpath.METRICS_KEY: choice.to_dict()}

    out = Path(args.out).resolve()
    choice = fastpath.save_checked(result.ner, dev, settings.precision, out, with_serving, keep_heldout=True)
    dev_note = f", dev micro-F1 {result.dev_metrics['f1']:.4f}" if result.dev_metrics else ""
    print(f"saved {out} ({result.epochs_run} epochs in {result.duration_s:.1f}s, "
          f"loss {result.first_loss:.3f} -> {result.history[-1]['loss']:.3f}{dev_note}); "
          f"served here in {choice.precision}: {choice.reason}")
    if not dev:
        print(f"no sentence held out: `ner-backend check --model {out} --data HELDOUT` lets servers use a fast path")
    return 0


def cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    """Score a folder's fast paths against fp32 on held-out gold and record the evidence in it."""
    from ..ner import fastpath

    if args.data:
        dev = read_corpus(args.data, args.format, args.limit)
    else:
        dev = fastpath.read_heldout(args.model)[: args.limit]
        if not dev:
            raise CliError(f"{args.model} keeps no held-out sentences: name a corpus it was not trained on with --data")
    started = time.monotonic()
    choice = fastpath.recheck(args.model, dev, settings.precision)
    tried = ", ".join(f"{path} {f1:.4f}" for path, f1 in choice.tried.items()) or "none"
    fp32 = f"{choice.fp32_f1:.4f}" if choice.fp32_f1 is not None else "n/a"
    print(f"{args.model}: {len(dev)} held-out sentences, dev F1 fp32 {fp32}, fast paths {tried}; "
          f"served here in {choice.precision} ({choice.reason}); {time.monotonic() - started:.1f}s")
    return 0


def _predictor(path: str, settings: Settings):
    """The model at `path` as the service would serve it here: in the precision its training
    checked (int8, ov-bf16, bf16, ...) unless PRECISION names one."""
    from ..ner.fastpath import load_served

    return load_served(path, settings.precision, max_length=settings.max_length, stride=settings.window_stride,
                       batch_size=settings.predict_batch_size)


def cmd_evaluate(args: argparse.Namespace, settings: Settings) -> int:
    from ..ner.evaluation import evaluate_model

    predictor = _predictor(args.model, settings)
    sentences = read_corpus(args.data, args.format, args.limit)
    unknown = sorted({t[2:] for s in sentences for t in s.tags if t != "O"} - set(predictor.labels.types))
    if unknown:  # scored all the same: the model cannot find them, so each is a miss, per label too
        print(f"ner-backend evaluate: warning: the model does not know the label(s) {', '.join(unknown)}; "
              "their entities count as misses", file=sys.stderr)
    started = time.monotonic()
    figures = evaluate_model(predictor, sentences)
    figures["seconds"] = round(time.monotonic() - started, 2)
    figures["served_precision"] = predictor.precision  # what a server here would score: ov-bf16, int8, bf16, fp32
    if args.json:
        print(json.dumps(figures))
        return 0
    print(f"{figures['sentences']} sentences, {figures['support']} entities, {figures['seconds']}s in {predictor.precision}")
    print(f"{'label':<12}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}")
    for label, v in figures["per_label"].items():
        print(f"{label:<12}{v['precision']:>10.4f}{v['recall']:>10.4f}{v['f1']:>10.4f}{v['support']:>10}")
    print(f"{'micro':<12}{figures['precision']:>10.4f}{figures['recall']:>10.4f}{figures['f1']:>10.4f}")
    print(f"{'macro':<12}{figures['macro_precision']:>10.4f}{figures['macro_recall']:>10.4f}{figures['macro_f1']:>10.4f}")
    return 0


def cmd_predict(args: argparse.Namespace, settings: Settings) -> int:
    predictor = _predictor(args.model, settings)

    def flush(texts: list[str]) -> None:
        for p in predictor.predict(texts):
            line = {"spans": [s.to_dict() for s in p.spans], "uncertainty": p.uncertainty}
            sys.stdout.write(json.dumps(line, ensure_ascii=False) + "\n")
        sys.stdout.flush()

    pending: list[str] = []
    for line in sys.stdin:
        pending.append(line.rstrip("\r\n"))
        if len(pending) >= args.batch_lines:
            flush(pending)
            pending = []
    if pending:
        flush(pending)
    return 0
