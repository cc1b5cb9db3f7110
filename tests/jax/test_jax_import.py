"""``import ckpt`` never imports JAX; JAX values become trackable once JAX is imported."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import ckpt.jax


def run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300
    )


def test_import_ckpt_does_not_import_jax() -> None:
    result = run(
        """
        import sys
        import ckpt
        ckpt.Checkpoint(v=ckpt.Variable(1.0), d={"a": [ckpt.Variable(2.0)]})
        frameworks = ("jax", "jaxlib", "flax", "optax", "ckpt.jax")
        print(sorted(m for m in frameworks if m in sys.modules))
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_jax_values_are_adapted_without_importing_ckpt_jax(tmp_path: object) -> None:
    result = run(
        f"""
        import sys
        import jax.numpy as jnp
        import ckpt
        assert "ckpt.jax" not in sys.modules
        path = ckpt.Checkpoint(params={{"w": jnp.ones(2)}}).save({str(tmp_path)!r} + "/ckpt")
        print(type(ckpt.Checkpoint(params={{"w": jnp.ones(2)}}).params).__name__)
        print(ckpt.list_variables(path)[1][0])
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["PyTree", "params/w/.ATTRIBUTES/VARIABLE_VALUE"]


def test_public_surface() -> None:
    assert ckpt.jax.__all__ == sorted(ckpt.jax.__all__)
    for name in ckpt.jax.__all__:
        obj = getattr(ckpt.jax, name)
        assert obj.__doc__, name
