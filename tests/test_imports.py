"""The house's import rules, read from the source: the engine stands alone, the web service never
imports the worker, and the worker never imports Flask or the web modules."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.servers import ROOT

WEB = {"backend.app", "backend.api", "backend.server", "backend.metrics"}


def imports(path: Path) -> set[str]:
    """Every module `path` imports, relative imports resolved to absolute names."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
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


def ours(names: set[str]) -> set[str]:
    return {n for n in names if n.split(".")[0] in ("backend", "worker", "tests")}


def test_the_engine_imports_nothing_of_ours_outside_itself():
    for path in sorted((ROOT / "backend" / "ner").glob("*.py")):
        outside = {n for n in ours(imports(path)) if not n.startswith("backend.ner")}
        assert not outside, f"{path.name} imports {sorted(outside)}"
        assert not {n for n in imports(path) if n.split(".")[0] in ("flask", "redis", "rq")}, path.name


def test_web_modules_never_import_the_worker():
    for path in sorted((ROOT / "backend").glob("*.py")):
        if path.name == "cli.py":  # the front door runs every command, the worker's included
            continue
        worker = {n for n in ours(imports(path)) if n.startswith("worker")}
        assert not worker, f"backend/{path.name} imports {sorted(worker)}"


def test_the_worker_never_imports_flask_or_the_web_modules():
    for path in sorted((ROOT / "worker").glob("*.py")):
        names = imports(path)
        assert not {n for n in names if n.split(".")[0] in ("flask", "werkzeug", "gunicorn")}, path.name
        assert not {n for n in names if any(n == w or n.startswith(w + ".") for w in WEB)}, path.name


def test_at_run_time_too():
    code = ("import sys, backend.app, backend.api; "
            "assert not [m for m in sys.modules if m.startswith('worker')], 'service imported worker'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
    code = "import sys, worker.jobs, worker.simulate; assert 'flask' not in sys.modules, 'worker imported flask'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
