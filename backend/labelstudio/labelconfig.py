"""Parse a Label Studio labeling config into its labelling controls, and say which we can serve."""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


class LabelConfigError(ValueError):
    """A labeling config we cannot use: not XML, or no <Labels> bound to a <Text>."""


# The object tag whose regions are plain character offsets (code points). <HyperText> regions need
# XPaths with offsets inside DOM nodes and <Paragraphs> regions need paragraph indices: answering
# either with plain offsets draws nothing (or the wrong words), so they are named, not served.
SUPPORTED_OBJECT = "Text"
LABEL_CONTROLS = ("Labels", "HyperTextLabels", "ParagraphLabels")
OBJECT_TAGS = ("Text", "HyperText", "Paragraphs")
MAX_CONTROLS = 32  # <Labels>-to-object pairs in one config: NER configs have one or a few


@dataclass(frozen=True)
class NerControl:
    """One <Labels name=from_name toName=to_name> bound to <Text name=to_name value="$data_key">
    (or to another object tag, `object_tag`, which we recognise but cannot serve)."""

    from_name: str
    to_name: str
    data_key: str
    labels: tuple[str, ...]  # the <Label value=...> strings, as results must carry them
    aliases: dict[str, str] = field(default_factory=dict, compare=False)  # alias -> value
    object_tag: str = SUPPORTED_OBJECT

    @property
    def supported(self) -> bool:
        return self.object_tag == SUPPORTED_OBJECT

    def describe(self) -> str:
        return f'<{self.object_tag} name="{self.to_name}"> (labelled by "{self.from_name}")'


def parse_label_config(xml: str) -> list[NerControl]:
    """Every labels control bound to a text-like object tag in `xml`, in document order (check
    `supported` before serving one); raises LabelConfigError when there is none."""
    if not isinstance(xml, str) or not xml.strip():
        raise LabelConfigError("the labeling config is empty")
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise LabelConfigError(f"the labeling config is not valid XML: {exc}") from None
    except UnicodeEncodeError:
        raise LabelConfigError("the labeling config is not valid XML: it holds lone UTF-16 surrogates") from None
    objects = {
        el.get("name"): (el.tag, el.get("value", "").lstrip("$"))
        for el in root.iter()
        if el.tag in OBJECT_TAGS and el.get("name") and el.get("value", "").startswith("$")
    }
    controls: list[NerControl] = []
    pairs: set[tuple[str, str]] = set()
    for el in (el for el in root.iter() if el.tag in LABEL_CONTROLS):
        name = el.get("name")
        for to_name in (t.strip() for t in (el.get("toName") or "").split(",")):
            if not name or to_name not in objects or (name, to_name) in pairs:
                continue  # a pair named twice (toName="t,t,...") is served once
            pairs.add((name, to_name))
            if len(pairs) > MAX_CONTROLS:
                raise LabelConfigError(f"the labeling config binds more than {MAX_CONTROLS} <Labels> to objects; "
                                       f"each pair predicts every task's text once more")
            values, aliases = [], {}
            for label in el.iter("Label"):
                value = label.get("value")
                if value:
                    values.append(value)
                    if label.get("alias"):
                        aliases[label.get("alias")] = value
            tag, key = objects[to_name]
            controls.append(NerControl(name, to_name, key, tuple(values), aliases, tag))
    if not controls:
        raise LabelConfigError("the labeling config has no <Labels> bound to a <Text> with value=\"$field\"")
    return controls


def project_controls(config: str | None, project: str | None, instead: str, strict: bool = False) -> list[NerControl]:
    """The controls of a project's labeling config (stored, or sent with the request). Without a
    usable one: LabelConfigError when `strict` (what is written to LS needs the config), else a
    warning that says what happens `instead`, and no controls."""
    try:
        if not config:
            raise LabelConfigError("no labeling config stored for the project (LS has not called /setup or a webhook yet)")
        return parse_label_config(config)
    except LabelConfigError as exc:
        if strict:
            raise
        log.warning("project %s: %s; %s", project, exc, instead)
        return []


def unsupported_message(controls: list[NerControl]) -> str | None:
    """Why a config cannot be served as it is, or None when every control is on a <Text>."""
    others = [c for c in controls if not c.supported]
    if not others:
        return None
    return (f"this backend pre-annotates <{SUPPORTED_OBJECT}> only (regions in character offsets); "
            f"the labeling config also labels {', '.join(c.describe() for c in others)}: "
            "<HyperText> needs XPath offsets and <Paragraphs> paragraph indices, which it does not produce. "
            f"Label the text with <Labels> and <{SUPPORTED_OBJECT} value=\"$field\">")
