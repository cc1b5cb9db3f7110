"""Imports TensorFlow for the live compatibility tests, or says why it cannot.

Without TensorFlow the live tests are skipped, unless ``CKPT_REQUIRE_TF`` is set (as in CI):
then a missing or broken TensorFlow is an error, never a silent skip.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType


def import_tensorflow() -> tuple[ModuleType | None, str]:
    """``(tensorflow, "")``, or ``(None, reason)`` when it cannot be imported."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        return importlib.import_module("tensorflow"), ""
    except Exception as exc:  # ImportError, or a broken install failing on import
        if os.environ.get("CKPT_REQUIRE_TF"):
            raise RuntimeError(
                f"CKPT_REQUIRE_TF is set but TensorFlow failed to import: {exc}"
            ) from exc
        return None, f"TensorFlow is not available: {exc}"
