"""The `ner-backend` command: train, evaluate, predict, serve, run a training worker, or all of it (up)."""

from __future__ import annotations

import argparse
import json
import os
import logging
import random
import sys
import threading
import time
from pathlib import Path

from .clock import utc_now, utc_stamp
from .config import Settings
from .ner.checkpoint import ModelFolderError
from .ner.labels import LabelError
from .ner.readers import FORMATS, CorpusError, read_corpus

log = logging.getLogger("ner_backend")
ORPHAN_AGE_S = 3600  # a save takes seconds: what a worker left half-written for an hour is an orphan
# `train` holds out this share by default: it stops the training at its best epoch and is the
# evidence that lets servers use the int8 path (the demo model: 5.97x the per-task pipeline, against
# 1.84x unchecked in fp32; docs/benchmarks.md).
DEV_FRACTION = 0.1


class CliError(Exception):
    """An error the user can fix; printed as one line, exit status 1."""


def _data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, help="corpus file (GMB csv, CoNLL, Label Studio JSON)")
    p.add_argument("--format", choices=FORMATS, help="corpus format (default: inferred from the file)")
    p.add_argument("--limit", type=int, help="use only the first N sentences")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ner-backend", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="fine-tune a model on a BIO corpus")
    _data_args(t)
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

    e = sub.add_parser("evaluate", help="score a model on a BIO corpus with seqeval")
    e.add_argument("--model", required=True, help="model folder from `train`")
    _data_args(e)
    e.add_argument("--json", action="store_true", help="print one JSON object")

    pr = sub.add_parser("predict", help="one text per stdin line -> one JSON line of spans per text")
    pr.add_argument("--model", required=True, help="model folder from `train`")
    pr.add_argument("--batch-lines", type=int, default=256, help="texts read before each batched run")
    sv = sub.add_parser("serve", help="run the Label Studio ML backend (gunicorn)")
    sv.add_argument("--host", help="bind address (default HOST, else 127.0.0.1)")
    sv.add_argument("--port", type=int, help="port (default PORT, else 9090)")
    sv.add_argument("--workers", type=int, help="worker processes (default WORKERS, else 1)")
    sv.add_argument("--threads", type=int, help="threads per worker (default THREADS, else 4)")

    f = sub.add_parser("front", help="answer /webhook in this process and forward every other request to a "
                                      "prediction pool (`serve`): what `up` runs on the public port")
    f.add_argument("--upstream", required=True, help="the prediction pool's URL, http://HOST:PORT")
    f.add_argument("--host", help="bind address (default HOST, else 127.0.0.1)")
    f.add_argument("--port", type=int, help="port (default PORT, else 9090)")

    u = sub.add_parser("up", help="run Redis (embedded unless REDIS_URL is set), the backend and a worker")
    u.add_argument("--port", type=int, help="backend port (default PORT, else 9090)")
    u.add_argument("--redis-port", type=int, default=6390, help="port of the embedded Redis (default 6390)")
    u.add_argument("--label-studio", action="store_true",
                   help="also run a local Label Studio with a ready demo project (installed on first use)")
    u.add_argument("--label-studio-port", type=int, default=8080)

    sm = sub.add_parser("simulate", help="replay a gold corpus as annotators would; measure what they get")
    sm.add_argument("--pool", required=True, help="gold corpus the simulated annotators label, task by task")
    sm.add_argument("--test", required=True, help="gold corpus every round's served model is scored on")
    sm.add_argument("--format", choices=FORMATS, help="format of both files (default: inferred per file)")
    sm.add_argument("--limit-pool", type=int, help="use only the pool's first N sentences")
    sm.add_argument("--limit-test", type=int, help="use only the test set's first N sentences")
    sm.add_argument("--rounds", default="50,100,200,500,1000",
                    help="annotated tasks after each round, increasing (default 50,100,200,500,1000)")
    sm.add_argument("--strategy", default="random", help="task order, or several comma-separated (default random)")
    sm.add_argument("--seed", default="0", help="seed, or several comma-separated (default 0)")
    sm.add_argument("--json", action="store_true", help="print one JSON object per round on stdout")
    sm.add_argument("--plot", help="draw F1 and effort saved against annotations to this SVG file")
    sm.add_argument("--service", metavar="URL",
                    help="run through a running backend (webhooks, its workers, hot-swap, /predict) instead of in-process")
    sm.add_argument("--project", type=int, help="with --service: the (new) project id to use (default: from the clock)")

    w = sub.add_parser("worker", help="run an RQ worker that trains projects from the webhook queue")
    w.add_argument("--burst", action="store_true", help="exit once the queue is empty")
    w.add_argument("--name", help="worker name (default: RQ's random one)")

    c = sub.add_parser("check", help="check a model folder's fast paths (int8, bf16) so that servers may use them")
    c.add_argument("--model", required=True, help="model folder from `train` or the worker")
    c.add_argument("--data", help="held-out gold corpus (default: the sentences `train` held out and kept)")
    c.add_argument("--format", choices=FORMATS, help="corpus format (default: inferred from the file)")
    c.add_argument("--limit", type=int, help="use only the first N sentences")

    rb = sub.add_parser("rollback", help="serve an older kept version of a project again (every process swaps to it)")
    rb.add_argument("--project", required=True, help="project id")
    rb.add_argument("--to", help="the version (default: the one that served before the current one)")

    pn = sub.add_parser("pin", help="keep a version whatever the retention (KEEP_VERSIONS)")
    pn.add_argument("--project", required=True, help="project id")
    pn.add_argument("version")
    pn.add_argument("--unpin", action="store_true", help="let retention remove it again")
    return parser


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

    from .ner.basemodel import DEFAULT_BASE
    from .ner import fastpath

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
    from .ner import fastpath

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
    checked (int8, bf16, ...) unless PRECISION names one."""
    from .ner.fastpath import load_served

    return load_served(path, settings.precision, max_length=settings.max_length, stride=settings.window_stride,
                       batch_size=settings.predict_batch_size)


def cmd_evaluate(args: argparse.Namespace, settings: Settings) -> int:
    from .ner.evaluation import evaluate_model

    predictor = _predictor(args.model, settings)
    sentences = read_corpus(args.data, args.format, args.limit)
    unknown = sorted({t[2:] for s in sentences for t in s.tags if t != "O"} - set(predictor.labels.types))
    if unknown:  # scored all the same: the model cannot find them, so each is a miss, per label too
        print(f"ner-backend evaluate: warning: the model does not know the label(s) {', '.join(unknown)}; "
              "their entities count as misses", file=sys.stderr)
    started = time.monotonic()
    figures = evaluate_model(predictor, sentences)
    figures["seconds"] = round(time.monotonic() - started, 2)
    figures["served_precision"] = predictor.precision  # what a server here would score: int8, bf16, fp32
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


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from dataclasses import replace

    from .web.server import serve

    overrides = {k: getattr(args, k) for k in ("host", "port", "workers", "threads") if getattr(args, k)}
    if settings.serve_nice:
        os.nice(settings.serve_nice)  # before the fork: every gunicorn worker inherits it
    serve(replace(settings, **overrides))
    return 0


def cmd_front(args: argparse.Namespace, settings: Settings) -> int:
    """Webhooks in a process of their own, at the niceness it was started with; the rest forwarded."""
    from dataclasses import replace

    from .web.server import serve

    overrides = {k: getattr(args, k) for k in ("host", "port") if getattr(args, k)}
    serve(replace(settings, **overrides), upstream=args.upstream)
    return 0


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    """A real RQ worker on the training queue (forks one work horse per job)."""
    import redis
    from rq import Queue, Worker

    import worker.jobs  # noqa: F401  (imported once here, so each forked job starts warm)

    from .ner.basemodel import preload
    from .ner.device import describe_device

    log.info("%s", describe_device())
    try:
        preload(settings.base_model or None)
    except Exception as exc:  # a bad BASE_MODEL fails each job, with the reason in its record
        log.warning("could not preload the base model %r: %s", settings.base_model or "minilm", exc)

    if settings.worker_nice:
        os.nice(settings.worker_nice)

    try:
        _tidy_store(settings)
    except (OSError, redis.RedisError) as exc:  # tidying is housekeeping: the worker trains anyway
        log.warning("could not tidy the model store: %s", exc)
    threading.Thread(target=_rescue_dead_trainings, args=(settings,), name="rescue", daemon=True).start()
    # A bare client: RQ's worker loop blocks on the queue for minutes, past the stores' socket timeout.
    client = redis.Redis.from_url(settings.redis_url)
    queue = Queue(settings.queue_name, connection=client)
    log.info("worker on queue %r at %s", settings.queue_name, settings.redis_url.split("@")[-1])
    Worker([queue], connection=client, name=args.name).work(burst=args.burst, logging_level="INFO")
    return 0


def _rescue_dead_trainings(settings: Settings) -> None:
    """At start and every LEASE_S after: retire old versions whose grace has passed, and train
    again each project whose latest training died with its worker, recording the dead one
    abandoned. A worker killed mid-training leaves a started job, and a successor waiting on it,
    that nothing else would replace until the project's next trigger after the lease lapsed
    (`TrainingQueue.rescue`)."""
    import redis

    from .state import connect
    from .state.trainqueue import LEASE_S

    stores = connect(settings)
    while True:
        try:
            for project in stores.annotations.projects():
                job_id = stores.queue.rescue(project)
                if job_id:  # jobs of a project never overlap: any other running record is dead
                    stores.history.abandon_running(project, keep=job_id)
                # and each version's grace is checked here too, so a project that stopped training
                # does not keep the versions its last trainings replaced
                stores.registry.retire(project, settings.keep_versions, settings.retire_grace_s)
                if settings.pushes_to_ls:  # a push held back by PUSH_INTERVAL_S starts once it is due
                    stores.queue.push_due(project)
        except redis.RedisError as exc:  # Redis restarting: the next round tries again
            log.warning("could not look for dead trainings: %s", exc)
        except OSError as exc:  # a folder retention could not remove: the next round tries again
            log.warning("could not remove old versions: %s", exc)
        time.sleep(LEASE_S + 1)  # a job is dead once its lease has lapsed


def cmd_rollback(args: argparse.Namespace, settings: Settings) -> int:
    """Promote a kept older version through the registry (checked like any promotion)."""
    from .state import connect
    from .state.registry import RegistryError

    stores = connect(settings)
    registry = stores.registry
    target = args.to or registry.previous(args.project)
    if not target:
        raise CliError(f"project {args.project} has no earlier version to roll back to")
    current = registry.current(args.project)
    try:
        registry.promote(args.project, target)
    except (RegistryError, ModelFolderError) as exc:
        raise CliError(f"cannot roll back to {target}: {exc}") from None
    print(f"project {args.project}: {target} serves again (was {current}); every serving process swaps within "
          f"SWAP_POLL_SECONDS. The next promoted training replaces it: `pin` it, or keep annotating.")
    if settings.pushes_to_ls:
        print(f"project {args.project}: Label Studio {_rollback_in_ls(args.project, target, settings, stores)}")
    return 0


def _rollback_in_ls(project: str, version: str, settings: Settings, stores) -> str:
    """Make LS show `version` again: select its predictions, which LS still holds (each push keeps
    the version a rollback returns to), else ask the worker to push it. Says which."""
    from .labelstudio.client import LabelStudioClient
    from .state.history import Training

    try:
        ls = LabelStudioClient(settings.label_studio_url, settings.label_studio_api_key)
        if ls.model_versions(project).get(version):
            ls.select_version(project, version)
            return f"shows {version}'s stored predictions again (selected)"
    except Exception as exc:  # LS down or refusing: the worker's push selects it when it can
        log.warning("project %s: could not select %s in Label Studio: %s", project, version, exc)
    record = Training(f"rollback-{project}-{utc_stamp()}", version=version)
    stores.history.save(project, record)
    stores.queue.want_push(project, version, record.job_id)
    return f"gets {version}'s predictions from the worker's next push"


def cmd_pin(args: argparse.Namespace, settings: Settings) -> int:
    from .state import connect
    from .state.registry import RegistryError

    registry = connect(settings).registry
    try:
        if not args.unpin and not registry.path(args.project, args.version).is_dir():
            raise CliError(f"project {args.project} has no version {args.version}")
        registry.pin(args.project, args.version, not args.unpin)
    except RegistryError as exc:
        raise CliError(str(exc)) from None
    print(f"project {args.project}: {args.version} {'unpinned' if args.unpin else 'pinned: retention keeps it'}")
    return 0


def _tidy_store(settings: Settings) -> None:
    """At worker start: remove what killed workers left (scratch and unpromoted folders older than
    an hour, the fast-path check's scratch under the temp folder) and retire old versions."""
    import shutil
    import tempfile

    from .state import connect

    stores = connect(settings)
    for path in stores.registry.remove_orphans(ORPHAN_AGE_S):
        log.info("removed %s, left by a worker that died while saving", path)
    cutoff = time.time() - ORPHAN_AGE_S
    for scratch in Path(tempfile.gettempdir()).glob("ner-fastpath-*"):
        if scratch.stat().st_mtime < cutoff:
            shutil.rmtree(scratch, ignore_errors=True)
    for project in stores.annotations.projects():
        stores.registry.retire(project, settings.keep_versions, settings.retire_grace_s)


def _int_list(raw: str, what: str) -> list[int]:
    try:
        return [int(x) for x in raw.split(",") if x.strip()]
    except ValueError:
        raise CliError(f"{what} must be comma-separated integers, got {raw!r}") from None


def cmd_simulate(args: argparse.Namespace, settings: Settings) -> int:
    from worker.simulate.inprocess import STRATEGIES, SimulationError, mean_by_strategy, simulate, stderr_progress

    from .plots import series_svg

    logging.getLogger("worker.training").setLevel(logging.WARNING)  # a bar per round says enough
    rounds, seeds = _int_list(args.rounds, "--rounds"), _int_list(args.seed, "--seed")
    strategies = [x.strip() for x in args.strategy.split(",") if x.strip()]
    unknown = [x for x in strategies if x not in STRATEGIES]
    if unknown or not strategies:
        raise CliError(f"unknown strategy {', '.join(unknown) or '(none)'}: choose from {', '.join(STRATEGIES)}")
    pool = read_corpus(args.pool, args.format, args.limit_pool)
    test = read_corpus(args.test, args.format, args.limit_test)
    rows = []

    def runs(strategy: str, seed: int):
        if not args.service:
            return simulate(pool, test, rounds, strategy, seed, settings, progress=stderr_progress)
        from worker.simulate.service import simulate_via_service

        project = (args.project or int(time.time()) % 10**9) + len(rows)  # one fresh project per run
        return simulate_via_service(args.service, project, pool, test, rounds, strategy, seed, stderr_progress)

    try:
        for strategy in strategies:
            for seed in seeds:
                for row in runs(strategy, seed):
                    rows.append(row)
                    if args.json:
                        print(json.dumps(row.to_dict()), flush=True)
    except SimulationError as exc:
        raise CliError(str(exc)) from None
    if not args.json:
        print(f"{'strategy':<12}{'seed':>5}{'tasks':>7}{'F1':>8}{'P':>8}{'R':>8}{'edits/task':>12}{'saved':>8}{'train s':>9}")
        for r in rows:
            saved = f"{r.effort_saved:.3f}" if r.effort_saved is not None else "-"
            print(f"{r.strategy:<12}{r.seed:>5}{r.annotations:>7}{r.f1:>8.4f}{r.precision:>8.4f}{r.recall:>8.4f}"
                  f"{r.edits_per_task:>12.3f}{saved:>8}{r.train_seconds:>9.1f}")
    if args.plot:
        panels = [("test micro-F1", mean_by_strategy(rows, "f1")),
                  ("effort saved", mean_by_strategy(rows, "effort_saved"))]
        with open(args.plot, "w", encoding="utf-8") as fh:
            fh.write(series_svg(panels, f"simulated annotators: {len(pool)}-sentence pool, {len(test)} test sentences"))
    return 0


def cmd_up(args: argparse.Namespace, settings: Settings) -> int:
    from dataclasses import replace

    from .ops.stack import up

    if args.port:
        os.environ["PORT"] = str(args.port)  # the backend child reads it
        settings = replace(settings, port=args.port)
    return up(settings, args.redis_port, args.label_studio_port if args.label_studio else None)


COMMANDS = {
    "train": cmd_train, "evaluate": cmd_evaluate, "predict": cmd_predict, "serve": cmd_serve, "worker": cmd_worker,
    "up": cmd_up, "simulate": cmd_simulate, "rollback": cmd_rollback, "pin": cmd_pin,
    "check": cmd_check, "front": cmd_front,
}


# OpenMP threads that find no work spin before they sleep (libgomp reads how long once, when torch
# loads, so this is set before any command imports torch; a value in the environment wins).
# Spinning next to another busy process takes the cores its threads need: a 300-annotation training
# beside a saturating /predict load took 5.2x its time alone with 20,000 spins and 1.3x with
# PASSIVE (no spinning). Alone, PASSIVE costs the training 10 % and batched /predict 15 %, so the
# server spins briefly and everything else sleeps at once (docs/benchmarks.md, "The loop").
OMP_WAITING = {"serve": {"GOMP_SPINCOUNT": "20000"}}
OMP_WAITING_DEFAULT = {"OMP_WAIT_POLICY": "PASSIVE"}


def _omp_waiting(command: str) -> None:
    if command == "up" or "OMP_WAIT_POLICY" in os.environ or "GOMP_SPINCOUNT" in os.environ:
        return  # up's parts choose their own
    os.environ.update(OMP_WAITING.get(command, OMP_WAITING_DEFAULT))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _omp_waiting(args.command)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings.from_env()
        return COMMANDS[args.command](args, settings)
    except (CliError, CorpusError, LabelError, ModelFolderError, ValueError, OSError) as exc:
        print(f"ner-backend {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
