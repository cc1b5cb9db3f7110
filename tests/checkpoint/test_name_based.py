"""Checkpoints without an object graph (TF1 ``Saver``) restored by variable names (§6.5)."""

from __future__ import annotations

import numpy as np
import pytest

import ckpt
from ckpt.checkpoint.status import NameBasedSaverStatus
from ckpt.errors import CheckpointAssertionError, DtypeMismatchError, ShapeMismatchError


class Dense(ckpt.Module):
    def __init__(self, n_in: int, n_out: int, name: str | None = None) -> None:
        super().__init__(name=name)
        self.kernel = ckpt.Variable(np.zeros((n_in, n_out), np.float32))
        self.bias = ckpt.Variable(np.zeros(n_out, np.float32))


class Net(ckpt.Module):
    def __init__(self, name: str | None = None) -> None:
        super().__init__(name=name)
        self.d1 = Dense(2, 3)
        self.d2 = Dense(3, 1)


def tf1_tensors() -> dict[str, np.ndarray]:
    return {
        "net/d1/kernel": np.arange(6, dtype=np.float32).reshape(2, 3),
        "net/d1/bias": np.array([1, 2, 3], np.float32),
        "net/d2/kernel": np.array([[4], [5], [6]], np.float32),
        "net/d2/bias": np.array([7], np.float32),
    }


def write_tf1(tmp_path, tensors=None, name: str = "tf1") -> str:
    return ckpt.write_tensors(str(tmp_path / name), tf1_tensors() if tensors is None else tensors)


def assert_restored(net: Net, tensors=None) -> None:
    expected = tf1_tensors() if tensors is None else tensors
    assert np.array_equal(net.d1.kernel.numpy(), expected["net/d1/kernel"])
    assert np.array_equal(net.d1.bias.numpy(), expected["net/d1/bias"])
    assert np.array_equal(net.d2.kernel.numpy(), expected["net/d2/kernel"])
    assert np.array_equal(net.d2.bias.numpy(), expected["net/d2/bias"])


def test_by_fully_qualified_names_through_checkpoint(tmp_path) -> None:
    prefix = write_tf1(tmp_path)
    net = Net()
    status = ckpt.Checkpoint(model=net).restore(prefix)
    assert isinstance(status, NameBasedSaverStatus)
    assert_restored(net)
    # save_counter is not in a TF1 checkpoint and is optional
    status.assert_consumed()
    status.assert_existing_objects_matched()
    status.assert_nontrivial_match()
    assert sorted(status.report().matched) == sorted(
        [
            ("(root).model.d1.kernel", "net/d1/kernel"),
            ("(root).model.d1.bias", "net/d1/bias"),
            ("(root).model.d2.kernel", "net/d2/kernel"),
            ("(root).model.d2.bias", "net/d2/bias"),
        ]
    )


def test_by_fully_qualified_names_with_module_root(tmp_path) -> None:
    prefix = write_tf1(tmp_path)
    net = Net()
    ckpt.CheckpointableSaver(net).restore(prefix).assert_consumed()
    assert_restored(net)


def test_explicit_module_name(tmp_path) -> None:
    tensors = {k.replace("net/", "encoder/"): v for k, v in tf1_tensors().items()}
    prefix = write_tf1(tmp_path, tensors)
    net = Net(name="encoder")
    ckpt.CheckpointableSaver(net).restore(prefix).assert_consumed()
    assert np.array_equal(net.d2.kernel.numpy(), tensors["encoder/d2/kernel"])


def test_by_explicit_variable_names(tmp_path) -> None:
    prefix = ckpt.write_tensors(
        str(tmp_path / "named"),
        {"dense/kernel": np.array([5, 6], np.float32), "global_step": np.int64(42)},
    )
    root = ckpt.Module(name="whatever")
    root.k = ckpt.Variable(np.zeros(2, np.float32), name="dense/kernel:0")
    root.step = ckpt.Variable(np.int64(0), name="global_step")
    status = ckpt.Checkpoint(model=root).restore(prefix)
    status.assert_consumed()
    assert root.k.numpy().tolist() == [5, 6]
    assert root.step.numpy() == 42


def test_by_object_path(tmp_path) -> None:
    prefix = ckpt.write_tensors(str(tmp_path / "paths"), {"model/v": np.float32(3)})
    checkpoint = ckpt.Checkpoint(model=ckpt.Module(name="not_model"))
    checkpoint.model.v = ckpt.Variable(np.float32(0))
    checkpoint.restore(prefix).assert_consumed()
    assert checkpoint.model.v.numpy() == 3


def test_save_counter_restored_when_present(tmp_path) -> None:
    tensors = {**tf1_tensors(), "save_counter": np.int64(9)}
    prefix = write_tf1(tmp_path, tensors)
    checkpoint = ckpt.Checkpoint(model=Net())
    checkpoint.restore(prefix).assert_consumed()
    assert checkpoint.save_counter.numpy() == 9


def test_missing_variable_fails_assertions(tmp_path) -> None:
    tensors = tf1_tensors()
    del tensors["net/d2/bias"]
    prefix = write_tf1(tmp_path, tensors)
    net = Net()
    status = ckpt.Checkpoint(model=net).restore(prefix)
    assert net.d1.bias.numpy().tolist() == [1, 2, 3]  # the others are restored
    for method in ("assert_consumed", "assert_existing_objects_matched", "assert_nontrivial_match"):
        with pytest.raises(AssertionError, match="Object not restored") as info:
            getattr(status, method)()
        assert isinstance(info.value, CheckpointAssertionError)
        assert info.value.report is status.report()
        assert "(root).model.d2.bias" in str(info.value)
        assert "save_counter" not in str(info.value)
    assert sorted(status.report().missing_from_checkpoint) == [
        "(root).model.d2.bias",
        "(root).save_counter",
    ]
    assert status.expect_partial() is status
    status.run_restore_ops()
    status.initialize_or_restore()


def test_save_counter_not_optional_outside_checkpoint_root(tmp_path) -> None:
    """Only ``Checkpoint.restore`` marks its own save_counter optional."""
    prefix = write_tf1(tmp_path)
    root = Net()
    root.save_counter = ckpt.Variable(np.int64(0))
    with pytest.raises(AssertionError):
        ckpt.CheckpointableSaver(root).restore(prefix).assert_consumed()


def test_extra_checkpoint_values_do_not_fail(tmp_path) -> None:
    tensors = {**tf1_tensors(), "global_step": np.int64(7)}
    prefix = write_tf1(tmp_path, tensors)
    net = Net()
    ckpt.Checkpoint(model=net).restore(prefix).assert_consumed()
    assert_restored(net)


def test_report_lists_unused_checkpoint_keys(tmp_path) -> None:
    tensors = {**tf1_tensors(), "global_step": np.int64(7)}
    del tensors["net/d2/bias"]
    prefix = write_tf1(tmp_path, tensors)
    report = ckpt.Checkpoint(model=Net()).restore(prefix).report()
    assert report.unused_in_checkpoint == ["global_step"]
    assert sorted(report.missing_from_checkpoint) == ["(root).model.d2.bias", "(root).save_counter"]
    assert len(report.matched) == 3
    assert not report.complete


def test_shape_mismatch_assigns_nothing(tmp_path) -> None:
    tensors = tf1_tensors()
    tensors["net/d2/bias"] = np.array([1, 2], np.float32)
    prefix = write_tf1(tmp_path, tensors)
    net = Net()
    with pytest.raises(ShapeMismatchError):
        ckpt.Checkpoint(model=net).restore(prefix)
    for variable in net.variables:
        assert not variable.numpy().any(), "a variable was assigned despite the mismatch"


def test_dtype_mismatch_assigns_nothing_unless_cast(tmp_path) -> None:
    tensors = {k: v.astype(np.float64) for k, v in tf1_tensors().items()}
    tensors["net/d1/kernel"] = tf1_tensors()["net/d1/kernel"]  # this one still fits
    prefix = write_tf1(tmp_path, tensors)
    net = Net()
    with pytest.raises(DtypeMismatchError):
        ckpt.Checkpoint(model=net).restore(prefix)
    for variable in net.variables:
        assert not variable.numpy().any(), "a variable was assigned despite the mismatch"
    net = Net()
    options = ckpt.CheckpointOptions(allow_dtype_cast=True)
    ckpt.Checkpoint(model=net).restore(prefix, options=options).assert_consumed()
    assert net.d2.kernel.dtype == np.float32
    assert_restored(net)


def test_tf1_saver_fixture(tmp_path) -> None:
    """A checkpoint written by TF's ``tf.compat.v1.train.Saver`` (tests/fixtures/tf)."""
    import pathlib

    fixture = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "tf" / "tf1_saver"
    prefix = str(fixture / "model.ckpt-7")
    with ckpt.CheckpointReader(prefix) as reader:
        expected = {key: reader.get_tensor(key) for key in reader}
        shapes = reader.get_variable_to_shape_map()
        dtypes = reader.get_variable_to_dtype_map()

    def zeros(key: str) -> ckpt.Variable:
        return ckpt.Variable(np.zeros(shapes[key], dtypes[key]))

    root = ckpt.Module()
    root.dense = ckpt.Module()
    root.dense.kernel = zeros("dense/kernel")
    root.dense.bias = zeros("dense/bias")
    root.scope = ckpt.Module()
    root.scope.w = zeros("scope/w")
    root.scope.u = zeros("scope/u")
    root.global_step = zeros("global_step")
    checkpoint = ckpt.Checkpoint(root=root)
    status = checkpoint.restore(str(fixture))  # a directory: its latest, model.ckpt-7
    assert isinstance(status, NameBasedSaverStatus)
    status.assert_consumed()
    for name, variable in root.named_variables():
        key = name.split("/", 1)[1]
        assert variable.dtype == expected[key].dtype
        assert variable.numpy().tobytes() == expected[key].tobytes(), key  # NaNs included
