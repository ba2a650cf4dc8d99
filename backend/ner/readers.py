"""Corpus readers: GMB CSV, CoNLL and Label Studio JSON exports -> one in-memory sentence format."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

from .labels import LabelError, entity_type
from .spans import decode_entities, tags_from_entities
from .words import split_words

FORMATS = ("gmb", "conll", "labelstudio")


class CorpusError(ValueError):
    """Data that cannot be read: missing file, wrong format, bad tag, span cutting a word, no data."""


@dataclass
class Sentence:
    """Words and their BIO tags (same length); `source` says where it came from, for errors."""

    words: list[str]
    tags: list[str]
    source: str = ""
    text: str | None = field(default=None, repr=False)  # the raw text, when the corpus has one


def _check_tags(tags: list[str], where: str) -> None:
    for tag in tags:
        try:
            entity_type(tag)
        except LabelError as exc:
            raise CorpusError(f"{where}: {exc}") from None


# ---- GMB ---------------------------------------------------------------------------------------


def read_gmb(path: Path, limit: int | None = None) -> list[Sentence]:
    """The Kaggle GMB `ner_dataset.csv`: cp1252, one token a row, `Sentence #` only on first rows.

    Read with the csv module (not pandas), so a word such as "NA" stays a word.
    """
    sentences: list[Sentence] = []
    with open(path, encoding="cp1252", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None) or []
        cols = {name.strip(): i for i, name in enumerate(header)}
        if not {"Sentence #", "Word", "Tag"} <= cols.keys():
            raise CorpusError(f"{path}: not a GMB file (need columns 'Sentence #', 'Word', 'Tag'; got {header})")
        s_col, w_col, t_col = cols["Sentence #"], cols["Word"], cols["Tag"]
        current: Sentence | None = None
        for line_no, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) <= max(s_col, w_col, t_col):
                raise CorpusError(f"{path}:{line_no}: expected {len(header)} columns, got {len(row)}")
            if row[s_col].strip():
                if limit is not None and len(sentences) >= limit:
                    break
                current = Sentence([], [], source=f"{path.name}:{line_no} ({row[s_col].strip()})")
                sentences.append(current)
            elif current is None:
                raise CorpusError(f"{path}:{line_no}: first row has no 'Sentence #'")
            current.words.append(row[w_col])
            current.tags.append(row[t_col].strip())
    for s in sentences:
        _check_tags(s.tags, s.source)
    return sentences


# ---- CoNLL -------------------------------------------------------------------------------------


def read_conll(path: Path, limit: int | None = None) -> list[Sentence]:
    """CoNLL: a token per line (word first, BIO tag last; 2 or 4 columns), blank lines between
    sentences, `-DOCSTART-` lines ignored."""
    sentences: list[Sentence] = []
    words: list[str] = []
    tags: list[str] = []
    start = 1

    def flush(line_no: int) -> None:
        nonlocal words, tags, start
        if words:
            sentences.append(Sentence(words, tags, source=f"{path.name}:{start}"))
        words, tags, start = [], [], line_no + 1

    with open(path, encoding="utf-8-sig") as fh:
        for line_no, line in enumerate(fh, start=1):
            if limit is not None and len(sentences) >= limit:
                break
            cols = line.split()
            if not cols:
                flush(line_no)
                continue
            if cols[0] == "-DOCSTART-":
                flush(line_no)
                continue
            if len(cols) < 2:
                raise CorpusError(f"{path}:{line_no}: expected 'word ... tag', got {line.strip()!r}")
            try:
                entity_type(cols[-1])
            except LabelError as exc:
                raise CorpusError(f"{path}:{line_no}: {exc}") from None
            words.append(cols[0])
            tags.append(cols[-1])
    flush(0)
    return sentences[:limit] if limit is not None else sentences


# ---- Label Studio ------------------------------------------------------------------------------


def _char_range(text: str, value: dict, where: str) -> tuple[int, int]:
    """Python offsets of an LS region: its start/end count code points, as Python does.

    When the region also quotes its text and the offsets do not cut exactly that text (an export
    edited by hand, or made by a tool that counted UTF-16 units or bytes), the quote's occurrence
    nearest to `start` is taken; with no occurrence at all the region is an error.
    """
    try:
        start, end = int(value["start"]), int(value["end"])
    except (KeyError, TypeError, ValueError):
        raise CorpusError(f"{where}: region without integer start/end") from None
    if not 0 <= start <= end <= len(text):
        raise CorpusError(f"{where}: offsets {start}-{end} fall outside the text ({len(text)} characters)")
    quoted = value.get("text")
    if not isinstance(quoted, str) or not quoted or text[start:end] == quoted:
        return start, end
    found = list(_occurrences(text, quoted))
    if not found:
        raise CorpusError(f"{where}: offsets {start}-{end} cut {text[start:end]!r}, not the region's text {quoted!r}")
    best = min(found, key=lambda i: abs(i - start))
    return best, best + len(quoted)


def _occurrences(text: str, piece: str):
    i = text.find(piece)
    while i >= 0:
        yield i
        i = text.find(piece, i + 1)


def sentence_from_regions(text: str, regions: list[dict], where: str) -> Sentence:
    """Words + BIO tags for `text` from Label Studio `labels` regions (offsets in code points).

    Whitespace at a region's edges is trimmed; a region that starts or ends inside a word, or
    overlaps another region, is an error naming `where`.
    """
    words = split_words(text)
    starts = {w.start: i for i, w in enumerate(words)}
    ends = {w.end: i for i, w in enumerate(words)}
    entities: list[tuple[int, int, str]] = []
    for region in regions:
        value = region.get("value") or {}
        labels = value.get("labels") or []
        if region.get("type", "labels") != "labels" or not labels:
            continue
        start, end = _char_range(text, value, where)
        piece = text[start:end]
        start += len(piece) - len(piece.lstrip())
        end -= len(piece) - len(piece.rstrip())
        if start >= end:
            continue
        if start not in starts or end not in ends:
            inside = [w for w in words if w.start < end and w.end > start]
            cut = next((w for w in inside if w.start < start or w.end > end), None)
            detail = f" cuts through the word {cut.text!r}" if cut else " does not match word boundaries"
            raise CorpusError(f"{where}: span {text[start:end]!r} [{start}:{end}]{detail}")
        entities.append((starts[start], ends[end] + 1, str(labels[0])))
    entities.sort()
    for (a1, b1, _), (a2, b2, _) in zip(entities, entities[1:]):
        if a2 < b1:
            raise CorpusError(f"{where}: overlapping spans {words[a1].start}-{words[b1 - 1].end} and "
                              f"{words[a2].start}-{words[b2 - 1].end} cannot be written as BIO")
    tags = tags_from_entities(len(words), entities)
    return Sentence([w.text for w in words], tags, source=where, text=text)


def join_words(words: list[str]) -> tuple[str, list[int]]:
    """Corpus words as a task text (joined by single spaces) and where each word starts in it."""
    starts, pos = [], 0
    for word in words:
        starts.append(pos)
        pos += len(word) + 1
    return " ".join(words), starts


def text_and_regions(sentence: Sentence, from_name: str = "label", to_name: str = "text") -> tuple[str, list[dict]]:
    """A corpus sentence as Label Studio would hold it: its words joined by single spaces, and one
    `labels` region per entity (offsets in code points), the inverse of `sentence_from_regions`."""
    text, starts = join_words(sentence.words)
    regions = []
    for n, (first, stop, kind) in enumerate(decode_entities(sentence.tags)):
        a, b = starts[first], starts[stop - 1] + len(sentence.words[stop - 1])
        regions.append({"id": f"r{n}", "from_name": from_name, "to_name": to_name, "type": "labels",
                        "value": {"start": a, "end": b, "text": text[a:b], "labels": [kind]}})
    return text, regions


def data_text(data: dict, where: str, text_key: str | None = None) -> str:
    """The text of a task's data: `text_key`'s value, else "text", else its only string."""
    if text_key:
        value = data.get(text_key)
    else:
        strings = [v for v in data.values() if isinstance(v, str)]
        value = data.get("text") if isinstance(data.get("text"), str) else (strings[0] if len(strings) == 1 else None)
    if not isinstance(value, str):
        raise CorpusError(f"{where}: cannot tell which data field holds the text (data keys: {sorted(data)})")
    return value


def latest_annotation(task: dict) -> dict | None:
    """A task's newest annotation that was not cancelled (skipped), or None."""
    kept = [a for a in task.get("annotations") or [] if isinstance(a, dict) and not a.get("was_cancelled")]
    if not kept:
        return None
    return max(kept, key=lambda a: (str(a.get("updated_at") or a.get("created_at") or ""), a.get("id") or 0))


def read_labelstudio(path: Path, limit: int | None = None, text_key: str | None = None) -> list[Sentence]:
    """A Label Studio JSON export: each task's latest non-cancelled annotation becomes a sentence.

    Tasks with no annotation are skipped; an annotation with no regions is a sentence with no
    entities (a real "nothing here" label).
    """
    try:
        tasks = json.loads(path.read_text(encoding="utf-8-sig"))
    except ValueError as exc:
        raise CorpusError(f"{path}: not valid JSON ({exc})") from None
    if isinstance(tasks, dict):
        tasks = [tasks]
    if not isinstance(tasks, list):
        raise CorpusError(f"{path}: expected a list of Label Studio tasks")
    sentences: list[Sentence] = []
    for n, task in enumerate(tasks):
        if limit is not None and len(sentences) >= limit:
            break
        if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
            raise CorpusError(f"{path}: item {n} is not a Label Studio task (no 'data' object)")
        where = f"{path.name}: task {task.get('id', n)}"
        annotation = latest_annotation(task)
        if annotation is None:
            continue
        text = data_text(task["data"], where, text_key)
        sentences.append(sentence_from_regions(text, annotation.get("result") or [], where))
    return sentences


# ---- any ---------------------------------------------------------------------------------------


def detect_format(path: Path) -> str:
    """Guess the format from the file's first bytes (JSON, a GMB header, else CoNLL)."""
    with open(path, "rb") as fh:
        head = fh.read(4096).lstrip(b"\xef\xbb\xbf").lstrip()
    if head[:1] in (b"[", b"{"):
        return "labelstudio"
    if head.split(b"\n", 1)[0].startswith(b"Sentence #"):
        return "gmb"
    return "conll"


def read_corpus(path: str | Path, fmt: str | None = None, limit: int | None = None) -> list[Sentence]:
    """Read any supported corpus; raises CorpusError with one clear line on any problem."""
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"{path}: no such file")
    fmt = fmt or detect_format(path)
    readers = {"gmb": read_gmb, "conll": read_conll, "labelstudio": read_labelstudio}
    if fmt not in readers:
        raise CorpusError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
    try:
        sentences = readers[fmt](path, limit)
    except UnicodeDecodeError as exc:
        raise CorpusError(f"{path}: not readable as {fmt} ({exc.reason} at byte {exc.start})") from None
    if not sentences:
        raise CorpusError(f"{path}: no sentences found (read as {fmt})")
    return sentences
