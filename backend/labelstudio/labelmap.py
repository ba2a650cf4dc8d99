"""Map a model's entity types onto a project's config labels (explicit LABEL_MAP, else by name)."""

from __future__ import annotations

from .labelconfig import NerControl


def parse_label_map(raw: str) -> dict[str, str]:
    """"per=PER,geo=LOC" -> {"per": "PER", "geo": "LOC"}; raises ValueError on a malformed pair."""
    out: dict[str, str] = {}
    for pair in filter(None, (p.strip() for p in raw.split(","))):
        model, sep, config = (x.strip() for x in pair.partition("="))
        if not sep or not model or not config:
            raise ValueError(f"LABEL_MAP entries look like model=config, got {pair!r}")
        out[model] = config
    return out


def map_types(model_types: list[str], control: NerControl, explicit: dict[str, str]) -> dict[str, str]:
    """model type -> the config label value it predicts; types with no match are left out.

    An explicit mapping wins (its target may be a label's value or alias); otherwise a type maps to
    the config label whose value or alias equals it ignoring case. Targets absent from the config
    are dropped, so predictions only ever carry the project's labels.
    """
    by_name: dict[str, str] = {}
    for value in control.labels:
        by_name.setdefault(value.casefold(), value)
    for alias, value in control.aliases.items():
        by_name.setdefault(alias.casefold(), value)
    out = {}
    for t in model_types:
        target = explicit.get(t, t)
        if target.casefold() in by_name:
            out[t] = by_name[target.casefold()]
    return out
