"""Every torch dtype a TF checkpoint can carry round-trips bit for bit, in any memory layout."""

from __future__ import annotations

import sys
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn
from torch_models import bits

import ckpt
from ckpt.errors import InvalidTensorError
from ckpt.torch import dtypes

sys.path.insert(0, str(Path(__file__).parents[1] / "compat"))
from tf_support import import_tensorflow

VALUE = "/.ATTRIBUTES/VARIABLE_VALUE"

# torch dtype -> the dtype the checkpoint stores (NumPy / ml_dtypes).
DTYPES = {
    torch.float32: np.float32,
    torch.float64: np.float64,
    torch.float16: np.float16,
    torch.bfloat16: ml_dtypes.bfloat16,
    torch.float8_e4m3fn: ml_dtypes.float8_e4m3fn,
    torch.float8_e5m2: ml_dtypes.float8_e5m2,
    torch.float8_e4m3fnuz: ml_dtypes.float8_e4m3fnuz,
    torch.float8_e5m2fnuz: ml_dtypes.float8_e5m2fnuz,
    torch.complex64: np.complex64,
    torch.complex128: np.complex128,
    torch.bool: np.bool_,
    torch.int8: np.int8,
    torch.int16: np.int16,
    torch.int32: np.int32,
    torch.int64: np.int64,
    torch.uint8: np.uint8,
    torch.uint16: np.uint16,
    torch.uint32: np.uint32,
    torch.uint64: np.uint64,
}
IDS = [str(d).removeprefix("torch.") for d in DTYPES]


def random_bits(dtype: torch.dtype, shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """Arbitrary bit patterns (NaN payloads, subnormals, negative zero) of ``dtype``."""
    size = int(np.prod(shape)) * torch.empty((), dtype=dtype).element_size()
    raw = np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8)
    if dtype is torch.bool:
        raw &= 1  # a bool byte other than 0 or 1 is not a value
    return dtypes.from_numpy(raw.view(np.dtype(DTYPES[dtype]))).reshape(shape)


@pytest.mark.parametrize("dtype", list(DTYPES), ids=IDS)
def test_every_dtype_round_trips_bit_exactly(dtype: torch.dtype, tmp_path: Path) -> None:
    module = nn.Module()
    module.register_buffer("value", random_bits(dtype, (3, 5), 1))
    module.register_buffer("scalar", random_bits(dtype, (), 2))
    path = ckpt.Checkpoint(model=module).write(str(tmp_path / "dtype"))
    with ckpt.load_checkpoint(path) as reader:
        stored = reader.get_variable_to_dtype_map()
        assert stored[f"model/value{VALUE}"] == np.dtype(DTYPES[dtype])
        assert reader.get_tensor(f"model/value{VALUE}").tobytes() == bits(module.value)
    fresh = nn.Module()
    fresh.register_buffer("value", torch.zeros(3, 5, dtype=dtype))
    fresh.register_buffer("scalar", torch.zeros((), dtype=dtype))
    pointer = fresh.value.data_ptr()
    ckpt.Checkpoint(model=fresh).read(path).assert_consumed()
    assert fresh.value.data_ptr() == pointer
    assert bits(fresh.value) == bits(module.value)
    assert bits(fresh.scalar) == bits(module.scalar)


@pytest.mark.parametrize("dtype", list(DTYPES), ids=IDS)
def test_every_dtype_in_a_transposed_parameter(dtype: torch.dtype, tmp_path: Path) -> None:
    value = random_bits(dtype, (4, 6), 3).t()
    assert not value.is_contiguous()
    path = ckpt.Checkpoint(v=value).write(str(tmp_path / "t"))
    target = torch.zeros(4, 6, dtype=dtype).t()
    pointer, strides = target.data_ptr(), target.stride()
    ckpt.Checkpoint(v=target).read(path).assert_consumed()
    assert (target.data_ptr(), target.stride()) == (pointer, strides)  # read in place
    assert bits(target) == bits(value)
    assert ckpt.load_variable(path, f"v{VALUE}").tobytes() == bits(value)


def test_conjugate_and_negative_views_save_their_values(tmp_path: Path) -> None:
    z = torch.tensor([1 + 2j, 3 - 4j], dtype=torch.complex64)
    path = ckpt.Checkpoint(c=z.conj(), n=torch.arange(3.0)._neg_view()).write(str(tmp_path / "c"))
    assert ckpt.load_variable(path, f"c{VALUE}").tolist() == [1 - 2j, 3 + 4j]
    assert ckpt.load_variable(path, f"n{VALUE}").tolist() == [0, -1, -2]


def test_empty_tensors(tmp_path: Path) -> None:
    path = ckpt.Checkpoint(e=torch.zeros(0, 3)).write(str(tmp_path / "e"))
    target = torch.ones(0, 3)
    ckpt.Checkpoint(e=target).read(path).assert_consumed()
    assert ckpt.load_variable(path, f"e{VALUE}").shape == (0, 3)


def test_requires_grad_parameters(tmp_path: Path) -> None:
    weight = nn.Parameter(torch.randn(3))
    path = ckpt.Checkpoint(w=weight).write(str(tmp_path / "w"))
    other = nn.Parameter(torch.zeros(3))
    ckpt.Checkpoint(w=other).read(path).assert_consumed()
    assert other.requires_grad and other.is_leaf
    assert torch.equal(other, weight)


def test_dtype_tables() -> None:
    for torch_dtype, numpy_dtype in DTYPES.items():
        assert dtypes.numpy_dtype(torch_dtype) == np.dtype(numpy_dtype)
        assert dtypes.torch_dtype(np.dtype(numpy_dtype)) is torch_dtype
    with pytest.raises(InvalidTensorError, match="no TensorFlow"):
        dtypes.numpy_dtype(torch.quint8)
    with pytest.raises(InvalidTensorError, match="no torch equivalent"):
        dtypes.torch_dtype(np.dtype(ml_dtypes.int4))


def test_host_view_shares_memory() -> None:
    tensor = torch.zeros(2, 3, dtype=torch.bfloat16)
    view = dtypes.host_view(tensor)
    view[1, 2] = 1.5
    assert tensor[1, 2].item() == 1.5


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    dtype=st.sampled_from(list(DTYPES)),
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=4),
    seed=st.integers(0, 2**32 - 1),
    data=st.data(),
)
def test_round_trip_property(
    dtype: torch.dtype, shape: list[int], seed: int, data: st.DataObject, tmp_path: Path
) -> None:
    """Any dtype, shape and dimension order: saved values are the tensor's, restored exactly."""
    order = data.draw(st.permutations(range(len(shape))))
    value = random_bits(dtype, tuple(shape), seed).permute(*order)
    prefix = str(tmp_path / f"p{seed}")
    ckpt.Checkpoint(v=value).write(prefix)
    target = torch.zeros(tuple(shape), dtype=dtype).permute(*order)
    ckpt.Checkpoint(v=target).read(prefix).assert_consumed()
    assert bits(target) == bits(value)


@pytest.mark.tf
def test_tensorflow_reads_every_dtype(tmp_path: Path) -> None:
    tf, missing = import_tensorflow()
    if tf is None:
        pytest.skip(missing)
    values = {str(d).removeprefix("torch."): random_bits(d, (2, 3), 5) for d in DTYPES}
    path = ckpt.Checkpoint(**values).write(str(tmp_path / "all"))
    reader = tf.train.load_checkpoint(path)
    for name, tensor in values.items():
        got = np.asarray(reader.get_tensor(f"{name}{VALUE}"))
        assert got.shape == (2, 3), name
        assert np.ascontiguousarray(got).tobytes() == bits(tensor), name
