"""Parse a Label Studio labeling config into the NER controls we can predict for."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field


class LabelConfigError(ValueError):
    """A labeling config we cannot use: not XML, or no <Labels> bound to a <Text>."""


@dataclass(frozen=True)
class NerControl:
    """One <Labels name=from_name toName=to_name> bound to <Text name=to_name value="$data_key">."""

    from_name: str
    to_name: str
    data_key: str
    labels: tuple[str, ...]  # the <Label value=...> strings, as results must carry them
    aliases: dict[str, str] = field(default_factory=dict, compare=False)  # alias -> value


def parse_label_config(xml: str) -> list[NerControl]:
    """Every <Labels> bound to a <Text> in `xml`, in document order; raises LabelConfigError."""
    if not isinstance(xml, str) or not xml.strip():
        raise LabelConfigError("the labeling config is empty")
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise LabelConfigError(f"the labeling config is not valid XML: {exc}") from None
    except UnicodeEncodeError:
        raise LabelConfigError("the labeling config is not valid XML: it holds lone UTF-16 surrogates") from None
    texts = {
        el.get("name"): el.get("value", "").lstrip("$")
        for el in root.iter()
        if el.tag in ("Text", "HyperText") and el.get("name") and el.get("value", "").startswith("$")
    }
    controls: list[NerControl] = []
    for el in root.iter("Labels"):
        name = el.get("name")
        for to_name in (t.strip() for t in (el.get("toName") or "").split(",")):
            if not name or to_name not in texts:
                continue
            values, aliases = [], {}
            for label in el.iter("Label"):
                value = label.get("value")
                if value:
                    values.append(value)
                    if label.get("alias"):
                        aliases[label.get("alias")] = value
            controls.append(NerControl(name, to_name, texts[to_name], tuple(values), aliases))
    if not controls:
        raise LabelConfigError("the labeling config has no <Labels> bound to a <Text> with value=\"$field\"")
    return controls
