"""Property tests: random module trees survive save -> restore, eagerly and built lazily."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ml_dtypes
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ckpt

DTYPES = [
    np.dtype(np.float32),
    np.dtype(np.float64),
    np.dtype(np.float16),
    np.dtype(ml_dtypes.bfloat16),
    np.dtype(np.int8),
    np.dtype(np.int32),
    np.dtype(np.int64),
    np.dtype(np.uint8),
    np.dtype(np.uint64),
    np.dtype(np.bool_),
    np.dtype(np.complex64),
    np.dtype(object),  # strings
]
ATTRIBUTE_NAMES = ["a", "b", "kernel", "bias", "layer_1", "w", "enc", "x0"]
DICT_KEYS = ["k", "b/c", "we/ird.name", "..", "0", "x y", "\u00fc"]

# --- tree specifications ----------------------------------------------------------------------

leaf = st.one_of(
    st.tuples(
        st.just("var"),
        st.sampled_from(DTYPES),
        st.lists(st.integers(0, 3), max_size=3).map(tuple),
        st.integers(0, 2**16),
    ),
    st.tuples(st.just("state"), st.integers(-5, 5)),
)


def _unique(pairs: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    return list(dict(pairs).items())


def _nodes(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.tuples(
            st.just("module"),
            st.lists(st.tuples(st.sampled_from(ATTRIBUTE_NAMES), children), max_size=4).map(
                _unique
            ),
        ),
        st.tuples(
            st.just("list"),
            st.lists(st.one_of(children, st.just(("plain", 7))), max_size=4),
        ),
        st.tuples(
            st.just("dict"),
            st.lists(st.tuples(st.sampled_from(DICT_KEYS), children), max_size=3).map(_unique),
        ),
        st.tuples(st.just("tuple"), st.lists(children, max_size=3)),
    )


trees = st.recursive(leaf, _nodes, max_leaves=12)
roots = st.tuples(
    st.just("module"),
    st.lists(st.tuples(st.sampled_from(ATTRIBUTE_NAMES), trees), min_size=1, max_size=4).map(
        _unique
    ),
)


def value_of(dtype: np.dtype, shape: tuple[int, ...], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    if dtype.kind == "O":
        pool = [b"", b"abc", "\u00e9\u2713".encode(), b"\x00\xff", bytes(range(40))]
        flat = np.empty(n, dtype=object)
        for i in range(n):
            flat[i] = pool[int(rng.integers(len(pool)))]
        return flat.reshape(shape)
    if dtype == np.bool_:
        return rng.integers(0, 2, size=shape).astype(np.bool_)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)
    if dtype.kind == "c":
        return (rng.normal(size=shape) + 1j * rng.normal(size=shape)).astype(dtype)
    values = rng.normal(size=shape) * 100
    if n >= 2:
        values.reshape(-1)[:2] = [np.nan, -0.0]
    return values.astype(dtype)


def zeros_like(dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
    zeros = np.zeros(shape, dtype)
    if dtype.kind == "O":
        zeros[...] = b"?"
    return zeros


# --- building trees ---------------------------------------------------------------------------


def build(spec: Any, filled: bool) -> Any:
    """The whole tree at once; leaves hold their values (``filled``) or placeholders."""
    kind = spec[0]
    if kind == "var":
        _, dtype, shape, seed = spec
        return ckpt.Variable(value_of(dtype, shape, seed) if filled else zeros_like(dtype, shape))
    if kind == "state":
        return ckpt.JsonState({"n": spec[1]} if filled else None)
    if kind == "plain":
        return spec[1]
    if kind == "module":
        module = ckpt.Module()
        for name, child in spec[1]:
            setattr(module, name, build(child, filled))
        return module
    if kind == "list":
        return [build(child, filled) for child in spec[1]]
    if kind == "dict":
        return {key: build(child, filled) for key, child in spec[1]}
    assert kind == "tuple"
    return tuple(build(child, filled) for child in spec[1])


def attach_lazily(spec: Any, attach: Callable[[Any], Any]) -> None:
    """Attach an empty container first, then add its children one by one (deferred restores)."""
    kind = spec[0]
    if kind == "module":
        module = attach(ckpt.Module())

        def into_module(obj: Any, name: str) -> Any:
            setattr(module, name, obj)
            return getattr(module, name)

        for name, child in spec[1]:
            attach_lazily(child, lambda obj, name=name: into_module(obj, name))
    elif kind == "list":
        items = attach([])

        def into_list(obj: Any) -> Any:
            items.append(obj)
            return items[-1]

        for child in spec[1]:
            attach_lazily(child, into_list)
    elif kind == "dict":
        mapping = attach({})

        def into_dict(obj: Any, key: str) -> Any:
            mapping[key] = obj
            return mapping[key]

        for key, child in spec[1]:
            attach_lazily(child, lambda obj, key=key: into_dict(obj, key))
    else:  # leaves and tuples (immutable) are attached whole
        attach(build(spec, filled=False))


def assert_same(spec: Any, expected: Any, actual: Any, path: str = "") -> None:
    kind = spec[0]
    if kind == "var":
        a, b = expected.numpy(), actual.numpy()
        assert a.dtype == b.dtype and a.shape == b.shape, path
        if a.dtype == object:
            assert a.tolist() == b.tolist(), path
        else:
            assert a.tobytes() == b.tobytes(), path
    elif kind == "state":
        assert actual.value == expected.value, path
    elif kind == "plain":
        assert actual == expected
    elif kind == "module":
        for name, child in spec[1]:
            assert_same(child, getattr(expected, name), getattr(actual, name), f"{path}/{name}")
    elif kind == "dict":
        for key, child in spec[1]:
            assert_same(child, expected[key], actual[key], f"{path}/{key}")
    else:
        assert len(actual) == len(spec[1]), path
        for i, child in enumerate(spec[1]):
            assert_same(child, expected[i], actual[i], f"{path}/{i}")


SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@SETTINGS
@given(spec=roots)
def test_round_trip_into_identical_tree(tmp_path, spec) -> None:
    original = build(spec, filled=True)
    prefix = ckpt.Checkpoint(model=original).save(str(tmp_path / "prop"))
    fresh = build(spec, filled=False)
    status = ckpt.Checkpoint(model=fresh).restore(prefix)
    status.assert_consumed()
    assert status.report().complete
    assert_same(spec, original, fresh)


@SETTINGS
@given(spec=roots)
def test_round_trip_into_lazily_built_tree(tmp_path, spec) -> None:
    original = build(spec, filled=True)
    prefix = ckpt.Checkpoint(model=original).save(str(tmp_path / "lazy"))
    checkpoint = ckpt.Checkpoint()
    status = checkpoint.restore(prefix)

    def into_checkpoint(obj: Any) -> Any:
        checkpoint.model = obj
        return checkpoint.model

    attach_lazily(spec, into_checkpoint)
    status.assert_consumed()
    assert status.report().pending == []
    assert_same(spec, original, checkpoint.model)


@SETTINGS
@given(spec=roots)
def test_resave_gives_the_same_checkpoint(tmp_path, spec) -> None:
    original = build(spec, filled=True)
    first = ckpt.CheckpointableSaver(original).save(str(tmp_path / "first"))
    fresh = build(spec, filled=False)
    ckpt.CheckpointableSaver(fresh).restore(first).assert_consumed()
    second = ckpt.CheckpointableSaver(fresh).save(str(tmp_path / "second"))
    with ckpt.CheckpointReader(first) as a, ckpt.CheckpointReader(second) as b:
        assert a.keys() == b.keys()
        for key in a:
            x, y = a.get_tensor(key), b.get_tensor(key)
            assert x.dtype == y.dtype and x.shape == y.shape
            assert x.tolist() == y.tolist() if x.dtype == object else x.tobytes() == y.tobytes()
