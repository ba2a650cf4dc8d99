"""What a clean machine installs: every requirement pinned, inside the range the code asks for."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from backend.ops import lsdemo

ROOT = Path(__file__).resolve().parents[2]


def requirement_lines(path: Path) -> list[str]:
    """The requirements of a requirements or constraints file (its lines but comments and blanks)."""
    return [line for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


def pins(path: Path) -> dict[str, str]:
    """Package -> the one version a constraints file allows (every line must be an exact pin)."""
    out = {}
    for line in requirement_lines(path):
        pin = Requirement(line)
        assert [s.operator for s in pin.specifier] == ["=="], line
        out[canonicalize_name(pin.name)] = next(iter(pin.specifier)).version
    return out


def unpinned(requirements: list[str], pinned: dict[str, str]) -> list[str]:
    """The requirements the pins leave open or contradict: a clean machine would take PyPI's newest."""
    open_ = []
    for raw in requirements:
        wanted = Requirement(raw)
        version = pinned.get(canonicalize_name(wanted.name))
        if version is None or not wanted.specifier.contains(version):
            open_.append(raw)
    return open_


def test_every_label_studio_requirement_is_pinned_within_its_range():
    pinned = pins(lsdemo.LS_CONSTRAINTS)
    wanted = requirement_lines(lsdemo.LS_REQUIREMENTS)
    assert {canonicalize_name(Requirement(r).name) for r in wanted} == {"label-studio", "label-studio-sdk"}
    assert unpinned(wanted, pinned) == []
    # label-studio 1.23 passes sentry_sdk.init an option sentry-sdk 3.0 removed, and exits at start
    assert int(pinned["sentry-sdk"].split(".")[0]) < 3


def test_every_backend_requirement_but_torch_is_pinned_within_its_range():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["test"]
    pinned = pins(ROOT / "backend" / "ops" / "venv-constraints.txt")
    assert unpinned([r for r in wanted if Requirement(r).name != "torch"], pinned) == []
    assert "torch" not in pinned  # its installers choose the CPU or the CUDA build
    assert {"pip", "setuptools"} <= pinned.keys()  # what builds seqeval's sdist
