"""Loads ``tests/fixtures/tf/spec.py`` (the formulas behind the TF-written fixtures) once."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "tf"


def _load_spec() -> ModuleType:
    name = "ckpt_tf_fixture_spec"
    if name in sys.modules:
        return sys.modules[name]
    found = importlib.util.spec_from_file_location(name, FIXTURES / "spec.py")
    assert found is not None and found.loader is not None
    module = importlib.util.module_from_spec(found)
    sys.modules[name] = module
    found.loader.exec_module(module)
    return module


spec = _load_spec()
