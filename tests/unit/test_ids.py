"""One rule for project ids wherever they arrive (LS bodies, URLs, the model store): at most 18
ASCII digits, nothing around them but LS's ".timestamp" suffix and spaces."""

from __future__ import annotations

import pytest

from backend.labelstudio.protocol import MAX_PROJECT_DIGITS, ProtocolError, project_id
from backend.state.registry import ModelRegistry, RegistryError


@pytest.mark.parametrize("raw, want", [("3", "3"), ("3.1795679909", "3"), (" 3 ", "3"), (5, "5"),
                                       ("9" * MAX_PROJECT_DIGITS, "9" * MAX_PROJECT_DIGITS)])
def test_ids_ls_sends_are_read(raw, want):
    assert project_id(raw) == want


@pytest.mark.parametrize("raw", ["3\n", "\u0663", "\uff13", "1" * (MAX_PROJECT_DIGITS + 1), 10**25, -1, True, "3.x", ""])
def test_anything_else_is_refused_before_a_training_could_fail_on_it(raw):
    with pytest.raises(ProtocolError):
        project_id(raw)


@pytest.mark.parametrize("raw", ["3\n", "\u0663", "1" * (MAX_PROJECT_DIGITS + 1), "../3"])
def test_the_store_refuses_the_same(raw, tmp_path):
    with pytest.raises(RegistryError):
        ModelRegistry(str(tmp_path), None).project_dir(raw)
    assert ModelRegistry(str(tmp_path), None).project_dir("1" * MAX_PROJECT_DIGITS)
