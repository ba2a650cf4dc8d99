"""Write sentences [first, last] (1-based) of the GMB ner_dataset.csv to a new CSV, same format."""

from __future__ import annotations

import argparse
import csv


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--first", type=int, required=True)
    ap.add_argument("--last", type=int, required=True)
    args = ap.parse_args()
    n = 0
    with open(args.src, encoding="cp1252", newline="") as fin, open(args.dst, "w", encoding="cp1252", newline="") as fout:
        reader, writer = csv.reader(fin), csv.writer(fout, lineterminator="\r\n")
        writer.writerow(next(reader))
        for row in reader:
            if row and row[0].strip():
                n += 1
                if n > args.last:
                    break
            if args.first <= n <= args.last:
                writer.writerow(row)


if __name__ == "__main__":
    main()
