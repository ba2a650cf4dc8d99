"""The house's import rules, by package prefix, read from every module's source (and checked at run
time): the layout shows the architecture only while the imports keep to it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.servers import ROOT

WEB_LIBRARIES = ("flask", "werkzeug", "gunicorn", "jinja2")
# package prefix -> the import prefixes it must never use (ours and third parties' alike)
FORBIDDEN = {
    "backend.ner": ("backend.config", "backend.labelstudio", "backend.state", "backend.serving", "backend.web",
                    "backend.ops", "backend.cli", "backend.plots", "backend.clock", "worker", "redis", "rq",
                    *WEB_LIBRARIES),
    "backend.labelstudio": ("backend.state", "backend.serving", "backend.web", "backend.ops", "backend.cli", "worker",
                            "redis", "rq", *WEB_LIBRARIES),
    "backend.state": ("backend.serving", "backend.web", "backend.ops", "backend.cli", "worker", *WEB_LIBRARIES),
    "backend.serving": ("backend.web", "backend.ops", "backend.cli", "worker", *WEB_LIBRARIES),
    "backend.web": ("backend.ops", "backend.cli", "worker"),  # the service never loads training code
    "backend.ops": ("backend.web", "backend.serving", "backend.cli", "worker", *WEB_LIBRARIES),
    "backend.config": ("backend.", "worker"),
    "backend.plots": ("backend.", "worker"),
    "backend.jsonvalues": ("backend.", "worker"),
    "backend.clock": ("backend.", "worker"),
    "backend.cli": (),  # the front door: it may import anything
    "worker": ("backend.web", "backend.ops", "backend.cli", *WEB_LIBRARIES),
    "worker.training": ("worker.jobs", "simulator", "backend.state", "backend.serving", "rq"),
    # the simulated annotator runs the recipe beside the product, never inside the service or the worker's jobs
    "simulator": ("worker.jobs", "backend.state", "backend.serving", "backend.web", "backend.ops", "backend.cli", "rq",
                  *WEB_LIBRARIES),
}
SOURCES = sorted(p for top in ("backend", "worker", "simulator") for p in (ROOT / top).rglob("*.py"))


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every module `path` imports, relative imports resolved to absolute names."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join([*base, node.module] if node.module else base)
            found.add(module)
            found |= {f"{module}.{alias.name}" for alias in node.names}
    return found


def under(name: str, prefix: str) -> bool:
    return name.startswith(prefix) if prefix.endswith(".") else name == prefix or name.startswith(prefix + ".")


def broken_rules(path: Path) -> list[str]:
    name = module_name(path)
    out = []
    for owner, forbidden in FORBIDDEN.items():
        if under(name, owner):
            out += [f"{name} imports {used} ({owner} may not use {bad})" for used in sorted(imports(path))
                    for bad in forbidden if under(used, bad) and not under(used, owner)]
    return out


def test_the_rules_cover_every_package():
    ruled = {m for m in map(module_name, SOURCES) if any(under(m, owner) for owner in FORBIDDEN)}
    assert ruled == {m for m in map(module_name, SOURCES) if m != "backend"}


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_keep_to_the_layers(path):
    assert not broken_rules(path)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_module_says_what_it_is_for(path):
    doc = ast.get_docstring(ast.parse(path.read_text()))
    assert doc and doc.strip(), f"{path.relative_to(ROOT)} has no docstring"


def test_a_forbidden_import_is_caught(monkeypatch):
    """The rules bite: Flask or Redis state in the engine would be reported, relative imports too."""
    engine = ROOT / "backend" / "ner" / "words.py"
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: "import flask\nfrom ..state import keys\n")
    assert {line.split()[2] for line in broken_rules(engine)} == {"flask", "backend.state", "backend.state.keys"}


def test_at_run_time_too():
    code = ("import sys, backend.web.app, backend.web.server; "
            "assert not [m for m in sys.modules if m.startswith(('worker', 'simulator'))], 'the service imported the worker'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
    code = ("import sys, worker.jobs, simulator.inprocess, simulator.service; "
            "assert not {'flask', 'gunicorn'} & set(sys.modules), 'the worker imported the web stack'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


@pytest.mark.parametrize("path", sorted((ROOT / "bench").glob("*.py")), ids=lambda p: p.name)
def test_benchmarks_use_the_installed_package_only(path):
    source = path.read_text()
    assert "sys.path" not in source, f"{path.name} edits sys.path"
    assert not {n for n in imports(path) if n.split(".")[0] == "tests"}, f"{path.name} imports the tests"
