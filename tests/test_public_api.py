"""The package's public surface and its import-time behaviour."""

from __future__ import annotations

import importlib.metadata
import inspect
import json
import subprocess
import sys
import types

import ckpt

EXPECTED = {
    "Checkpoint",
    "NetworkRestore",
    "PartitionedVariable",
    "SaveSliceInfo",
    "WarmStartPlan",
    "init_from_checkpoint",
    "restore_network_checkpoint",
    "save_network_checkpoint",
    "transforms",
    "CheckpointManager",
    "SkippedCheckpoint",
    "CheckpointOptions",
    "CheckpointableSaver",
    "JsonState",
    "Module",
    "ObjectNode",
    "object_graph",
    "NumpyRNGState",
    "Optimizer",
    "PythonState",
    "RestoreReport",
    "Trackable",
    "Variable",
    "CheckpointReader",
    "CheckpointState",
    "CheckpointWriter",
    "__version__",
    "checkpoint_exists",
    "convert_checkpoint",
    "errors",
    "get_checkpoint_state",
    "latest_checkpoint",
    "list_variables",
    "load_checkpoint",
    "load_variable",
    "update_checkpoint_state",
    "write_tensors",
}


def test_all_is_sorted_and_exact() -> None:
    assert ckpt.__all__ == sorted(ckpt.__all__)
    assert len(ckpt.__all__) == len(set(ckpt.__all__))
    assert set(ckpt.__all__) == EXPECTED
    for name in ckpt.__all__:
        assert hasattr(ckpt, name), name


def test_every_public_attribute_is_exported() -> None:
    public = {
        name for name, value in vars(ckpt).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public == EXPECTED - {"__version__", "errors", "transforms"}
    assert isinstance(ckpt.errors, types.ModuleType)
    assert isinstance(ckpt.transforms, types.ModuleType)


def test_star_import() -> None:
    namespace: dict[str, object] = {}
    exec("from ckpt import *", namespace)
    assert set(namespace) - {"__builtins__"} == EXPECTED


def test_version_matches_metadata() -> None:
    assert isinstance(ckpt.__version__, str)
    assert ckpt.__version__ == importlib.metadata.version("ckpt")


def test_public_callables_are_documented() -> None:
    for name in ckpt.__all__:
        obj = getattr(ckpt, name)
        if callable(obj):
            assert inspect.getdoc(obj), name


def test_import_does_not_pull_in_frameworks() -> None:
    code = (
        "import json, sys\n"
        "import ckpt, ckpt.errors, ckpt.format.bundle_reader, ckpt.format.bundle_writer\n"
        "print(json.dumps(sorted(m for m in sys.modules "
        "if m.split('.')[0] in ('tensorflow', 'torch', 'jax', 'keras', 'tf_keras'))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert json.loads(result.stdout) == []


def test_reader_and_writer_work_in_a_fresh_interpreter(tmp_path: object) -> None:
    code = (
        "import sys, numpy as np, ckpt\n"
        "p = ckpt.write_tensors(sys.argv[1] + '/m', {'a': np.arange(3)})\n"
        "assert ckpt.load_variable(p, 'a').tolist() == [0, 1, 2]\n"
        "assert not any(m.split('.')[0] in ('tensorflow', 'torch', 'jax') for m in sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True, timeout=60)
