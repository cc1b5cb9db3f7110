"""Format names, detection from a path, and the lazy import of optional libraries."""

from __future__ import annotations

import importlib
from typing import Any, Literal, get_args

import ml_dtypes
import numpy as np

from ckpt.errors import CheckpointNotFoundError, UnsupportedCheckpointError
from ckpt.format import storage

__all__ = [
    "INDEX_NAME",
    "Format",
    "detect_destination",
    "detect_source",
    "float_dtype",
    "require",
]

Format = Literal["tf", "safetensors", "npz", "torch"]
FORMATS: tuple[Format, ...] = get_args(Format)

INDEX_NAME = "model.safetensors.index.json"  # Hugging Face's name for a sharded safetensors index
INDEX_SUFFIX = ".safetensors.index.json"
TORCH_SUFFIXES = (".pt", ".pth", ".bin")


def check_format(name: str | None, what: str) -> Format | None:
    """Validate a user-given format name (``None`` means detect it)."""
    if name is None:
        return None
    for fmt in FORMATS:
        if fmt == name:
            return fmt
    raise UnsupportedCheckpointError(
        f"unknown {what} format {name!r}; choose one of {', '.join(FORMATS)}"
    )


def _by_suffix(path: str) -> Format | None:
    lower = path.lower()
    if lower.endswith(INDEX_SUFFIX) or lower.endswith(".safetensors"):
        return "safetensors"
    if lower.endswith(".npz"):
        return "npz"
    if lower.endswith(TORCH_SUFFIXES):
        return "torch"
    return None


def detect_source(path: str) -> Format:
    """The format of an existing checkpoint: by suffix, an index in a directory, else TF.

    ``path`` is a local path or an fsspec URL.
    """
    fmt = _by_suffix(path)
    if fmt is not None:
        if not storage.isfile(path):
            raise CheckpointNotFoundError(f"no such file: {path!r}", path=path)
        return fmt
    is_dir = storage.isdir(path)
    if is_dir and storage.isfile(storage.join(path, INDEX_NAME)):
        return "safetensors"
    # A TF prefix ("dir/ckpt-1"), its ".index" file, or a directory with a `checkpoint` file.
    if is_dir or path.endswith(".index") or storage.exists(path + ".index"):
        return "tf"
    raise CheckpointNotFoundError(
        f"cannot tell the format of {path!r}: it is no .safetensors, "
        f"{INDEX_NAME}, .npz, .pt/.pth/.bin file, TF checkpoint prefix or directory. "
        "Check the path, or pass the source format explicitly.",
        path=path,
    )


def detect_destination(path: str) -> Format:
    """The format to write, from the destination's suffix; anything else is a TF prefix."""
    if storage.isdir(path) and storage.isfile(storage.join(path, INDEX_NAME)):
        return "safetensors"
    return _by_suffix(path) or "tf"


def require(module: str, fmt: str) -> Any:
    """Import an optional library (torch, safetensors) or say which package to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        package = module.split(".")[0]
        raise UnsupportedCheckpointError(
            f"converting {fmt} checkpoints needs the optional package {package!r}: "
            f"pip install {package}"
        ) from exc


_ML_FLOATS = frozenset(
    np.dtype(getattr(ml_dtypes, name))
    for name in (
        "bfloat16",
        "float8_e4m3fn",
        "float8_e5m2",
        "float8_e4m3fnuz",
        "float8_e5m2fnuz",
        "float8_e4m3b11fnuz",
        "float4_e2m1fn",
    )
    if hasattr(ml_dtypes, name)
)


def is_floating(dtype: np.dtype[Any]) -> bool:
    """Real floating point, NumPy's own or an ``ml_dtypes`` one (bfloat16, float8...)."""
    return dtype.kind == "f" or dtype in _ML_FLOATS


def float_dtype(name: str) -> np.dtype[Any]:
    """The NumPy dtype a ``dtype=`` cast names: ``float16``, ``bfloat16``, ``float8_e4m3fn``..."""
    try:
        dtype = np.dtype(getattr(ml_dtypes, name)) if hasattr(ml_dtypes, name) else np.dtype(name)
    except TypeError:
        dtype = None
    if dtype is None or not is_floating(dtype):
        raise UnsupportedCheckpointError(
            f"cannot cast to {name!r}: give a floating dtype such as float16, bfloat16 or float32"
        )
    return dtype
