"""What every command shares: the error a user can fix, and the corpus and list options."""

from __future__ import annotations

import argparse

from ..ner.readers import FORMATS


class CliError(Exception):
    """An error the user can fix; printed as one line, exit status 1."""


def data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, help="corpus file (GMB csv, CoNLL, Label Studio JSON)")
    p.add_argument("--format", choices=FORMATS, help="corpus format (default: inferred from the file)")
    p.add_argument("--limit", type=int, help="use only the first N sentences")


def int_list(raw: str, what: str) -> list[int]:
    try:
        return [int(x) for x in raw.split(",") if x.strip()]
    except ValueError:
        raise CliError(f"{what} must be comma-separated integers, got {raw!r}") from None
