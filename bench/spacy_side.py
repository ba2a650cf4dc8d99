"""spaCy's side of bench/spacy_peer.py, run by a Python that has spaCy (never ours): train its CNN
NER on `train.json` with `dev.json`, tag `test.json`'s words, time its prediction over the test
texts. Prints one JSON line: the version, seconds, texts/s and the predicted BIO tags (the caller
scores them with the same seqeval as ours)."""

import json
import subprocess
import sys
import time
from pathlib import Path

import spacy
from spacy.tokens import Doc, DocBin


def main() -> None:
    work = Path(sys.argv[1])
    blank = spacy.blank("en")
    data = {name: json.loads((work / f"{name}.json").read_text()) for name in ("train", "dev", "test")}
    for name in ("train", "dev"):
        docs = DocBin()
        for words, tags in data[name]:
            docs.add(Doc(blank.vocab, words=words, ents=tags))
        docs.to_disk(work / f"{name}.spacy")
    config = work / "spacy.cfg"
    subprocess.run([sys.executable, "-m", "spacy", "init", "config", str(config), "--lang", "en", "--pipeline", "ner",
                    "--optimize", "efficiency", "--force"], check=True, capture_output=True)
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "spacy", "train", str(config), "--output", str(work / "spacy"),
                    "--paths.train", str(work / "train.spacy"), "--paths.dev", str(work / "dev.spacy")],
                   check=True, capture_output=True)
    train_s = time.monotonic() - started
    nlp = spacy.load(work / "spacy" / "model-best")
    tagged = []
    for doc in nlp.pipe(Doc(nlp.vocab, words=words) for words, _ in data["test"]):
        tagged.append([t.ent_iob_ + "-" + t.ent_type_ if t.ent_type_ else "O" for t in doc])
    texts = [" ".join(words) for words, _ in data["test"]]
    list(nlp.pipe(texts[:32]))  # warm
    started = time.monotonic()
    list(nlp.pipe(texts))
    speed = len(texts) / (time.monotonic() - started)
    print(json.dumps({"version": spacy.__version__, "train_s": round(train_s, 1), "texts_per_s": round(speed, 1),
                      "tags": tagged}))


if __name__ == "__main__":
    main()
