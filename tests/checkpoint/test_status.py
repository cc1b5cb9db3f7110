"""Load-status assertions (format doc §6.4).

Expected outcomes are TF 2.21's, checked by running the same scenarios against TensorFlow
while writing these tests (the table in each test lists pass/fail per assertion).
"""

from __future__ import annotations

import numpy as np
import pytest

import ckpt
from ckpt.errors import CheckpointAssertionError, CheckpointError

ASSERTIONS = ("assert_consumed", "assert_existing_objects_matched", "assert_nontrivial_match")


def f32(value) -> np.ndarray:
    return np.asarray(value, np.float32)


def outcome(status, method: str) -> str:
    """ "pass" or the failure message; the failure must be a CheckpointAssertionError."""
    try:
        result = getattr(status, method)()
    except AssertionError as error:
        assert isinstance(error, CheckpointAssertionError)
        assert isinstance(error, CheckpointError)
        assert isinstance(error.report, ckpt.RestoreReport)
        return str(error)
    assert result is status  # assertions chain
    return "pass"


def check(status, expected: dict[str, str]) -> None:
    """``expected[method]`` is "pass" or a substring of the failure message."""
    for method in ASSERTIONS:
        got = outcome(status, method)
        want = expected[method]
        if want == "pass":
            assert got == "pass", f"{method}: {got}"
        else:
            assert got != "pass", f"{method} passed, expected failure {want!r}"
            assert want in got, f"{method}: {got!r} lacks {want!r}"


def model(**variables) -> ckpt.Module:
    module = ckpt.Module()
    for name, value in variables.items():
        setattr(module, name, ckpt.Variable(f32(value)))
    return module


ALL_PASS = dict.fromkeys(ASSERTIONS, "pass")


def test_exact_match(tmp_path) -> None:
    prefix = ckpt.Checkpoint(m=model(w=1, b=2)).save(str(tmp_path / "c"))
    status = ckpt.Checkpoint(m=model(w=0, b=0)).restore(prefix)
    check(status, ALL_PASS)
    assert status.report().complete


def test_extra_python_variable(tmp_path) -> None:
    prefix = ckpt.Checkpoint(m=model(w=1)).save(str(tmp_path / "c"))
    status = ckpt.Checkpoint(m=model(w=0, extra=0)).restore(prefix)
    found = "Found 1 Python objects that were not bound to checkpointed values"
    check(
        status,
        {
            "assert_consumed": found,
            "assert_existing_objects_matched": found,
            "assert_nontrivial_match": "pass",
        },
    )
    assert "(root).m.extra" in outcome(status, "assert_consumed")


def test_python_subset_of_checkpoint(tmp_path) -> None:
    prefix = ckpt.Checkpoint(m=model(w=1, b=2)).save(str(tmp_path / "c"))
    status = ckpt.Checkpoint(m=model(b=0)).restore(prefix)
    check(
        status,
        {
            "assert_consumed": "Unresolved object in checkpoint (root).m.w",
            "assert_existing_objects_matched": "pass",
            "assert_nontrivial_match": "pass",
        },
    )


def test_write_then_restore_lacks_save_counter(tmp_path) -> None:
    prefix = ckpt.Checkpoint(v=ckpt.Variable(f32(1))).write(str(tmp_path / "w"))
    found = "Found 1 Python objects"
    status = ckpt.Checkpoint(v=ckpt.Variable(f32(0))).restore(prefix)
    check(
        status,
        {
            "assert_consumed": found,
            "assert_existing_objects_matched": found,
            "assert_nontrivial_match": "pass",
        },
    )
    assert "(root).save_counter" in outcome(status, "assert_consumed")
    # read() does not create the counter: everything matches.
    check(ckpt.Checkpoint(v=ckpt.Variable(f32(0))).read(prefix), ALL_PASS)


def test_save_then_read_leaves_save_counter_unresolved(tmp_path) -> None:
    prefix = ckpt.Checkpoint(v=ckpt.Variable(f32(1))).save(str(tmp_path / "s"))
    checkpoint = ckpt.Checkpoint(v=ckpt.Variable(f32(0)))
    status = checkpoint.read(prefix)
    check(
        status,
        {
            "assert_consumed": "Unresolved object in checkpoint (root).save_counter",
            "assert_existing_objects_matched": "pass",
            "assert_nontrivial_match": "pass",
        },
    )
    # Creating the counter afterwards hands it the deferred value (as in TF).
    assert checkpoint.save_counter.numpy() == 1
    check(status, ALL_PASS)


def test_empty_checkpoint_root(tmp_path) -> None:
    prefix = ckpt.Checkpoint().save(str(tmp_path / "e"))
    check(ckpt.Checkpoint().restore(prefix), ALL_PASS)
    check(
        ckpt.Checkpoint().read(prefix),
        {
            "assert_consumed": "Unresolved object in checkpoint (root).save_counter",
            "assert_existing_objects_matched": "pass",
            "assert_nontrivial_match": "Nothing to load",
        },
    )


def test_restore_none(tmp_path) -> None:
    checkpoint = ckpt.Checkpoint(v=ckpt.Variable(f32(3)))
    status = checkpoint.restore(None)
    message = "No checkpoint specified (save_path=None); nothing is being restored."
    check(status, dict.fromkeys(ASSERTIONS, message))
    assert status.expect_partial() is status
    status.run_restore_ops()
    status.initialize_or_restore()
    assert checkpoint.v.numpy() == 3
    assert "save_counter" not in checkpoint.__dict__  # nothing was created
    check(ckpt.CheckpointableSaver(ckpt.Module()).restore(None), dict.fromkeys(ASSERTIONS, message))


def test_deferred_then_created(tmp_path) -> None:
    prefix = ckpt.Checkpoint(v=ckpt.Variable(f32(1))).save(str(tmp_path / "d"))
    checkpoint = ckpt.Checkpoint()
    status = checkpoint.restore(prefix)
    check(
        status,
        {
            "assert_consumed": "Unresolved object in checkpoint (root).v",
            "assert_existing_objects_matched": "pass",
            "assert_nontrivial_match": "pass",
        },
    )
    checkpoint.v = ckpt.Variable(f32(0))
    check(status, ALL_PASS)


def test_nothing_matched_but_root(tmp_path) -> None:
    prefix = ckpt.CheckpointableSaver(model(a=1)).save(str(tmp_path / "n"))
    check(
        ckpt.CheckpointableSaver(model(z=0)).restore(prefix),
        {
            "assert_consumed": "Found 1 Python objects",
            "assert_existing_objects_matched": "Found 1 Python objects",
            "assert_nontrivial_match": "Nothing except the root object matched",
        },
    )
    check(
        ckpt.CheckpointableSaver(ckpt.Module()).restore(prefix),
        {
            "assert_consumed": "Unresolved object in checkpoint (root).a",
            "assert_existing_objects_matched": "pass",
            "assert_nontrivial_match": "Nothing to load",
        },
    )


def test_empty_checkpoint_node_bound_to_variable_counts_as_matched(tmp_path) -> None:
    """TF sets the update uid of every bound object, values or not: all three pass."""
    source = ckpt.Module()
    source.v = ckpt.Module()  # an empty node named v
    source.w = ckpt.Variable(f32(1))
    prefix = ckpt.CheckpointableSaver(source).save(str(tmp_path / "na"))
    target = model(v=5, w=0)
    status = ckpt.CheckpointableSaver(target).restore(prefix)
    assert target.v.numpy() == 5 and target.w.numpy() == 1
    check(status, ALL_PASS)


def test_unused_attributes(tmp_path) -> None:
    """A checkpointed variable bound to a Python object that saves nothing (TF: same)."""
    prefix = ckpt.CheckpointableSaver(model(v=1, w=2)).save(str(tmp_path / "u"))
    target = ckpt.Module()
    target.v = ckpt.Module()
    target.w = ckpt.Variable(f32(0))
    status = ckpt.CheckpointableSaver(target).restore(prefix)
    assert target.w.numpy() == 2
    check(
        status,
        {
            "assert_consumed": "Unused attributes",
            "assert_existing_objects_matched": "pass",
            "assert_nontrivial_match": "pass",
        },
    )
    assert "(root).v" in outcome(status, "assert_consumed")
    assert status.report().unused_in_checkpoint == ["v/.ATTRIBUTES/VARIABLE_VALUE"]


def save_with_slots(tmp_path) -> str:
    net = model(k=1, b=2)
    opt = ckpt.Optimizer()
    opt.add_slot(net.k, "m", f32(10))
    opt.add_slot(net.b, "m", f32(20))
    return ckpt.Checkpoint(net=net, opt=opt).save(str(tmp_path / "slots"))


def test_slot_restorations_pending_until_optimizer_exists(tmp_path) -> None:
    prefix = save_with_slots(tmp_path)
    checkpoint = ckpt.Checkpoint(net=model(k=0, b=0))
    status = checkpoint.restore(prefix)
    check(
        status,
        {
            "assert_consumed": "Unresolved",
            "assert_existing_objects_matched": "pass",
            "assert_nontrivial_match": "pass",
        },
    )
    checkpoint.opt = ckpt.Optimizer()
    check(status, ALL_PASS)
    assert checkpoint.opt.get_slot(checkpoint.net.b, "m").numpy() == 20


def test_slot_restorations_pending_until_variable_exists(tmp_path) -> None:
    prefix = save_with_slots(tmp_path)
    checkpoint = ckpt.Checkpoint(net=model(k=0), opt=ckpt.Optimizer())
    status = checkpoint.restore(prefix)
    check(
        status,
        {
            "assert_consumed": "Unresolved",
            "assert_existing_objects_matched": "pass",
            "assert_nontrivial_match": "pass",
        },
    )
    assert checkpoint.opt.get_slot(checkpoint.net.k, "m").numpy() == 10
    checkpoint.net.b = ckpt.Variable(f32(0))
    check(status, ALL_PASS)
    assert checkpoint.opt.get_slot(checkpoint.net.b, "m").numpy() == 20


def test_older_status_after_newer_restore(tmp_path) -> None:
    """The newer restore assigns; the older status still passes (TF: update uid is newer)."""
    old = ckpt.Checkpoint(v=ckpt.Variable(f32(1))).write(str(tmp_path / "old"))
    new = ckpt.Checkpoint(v=ckpt.Variable(f32(2))).write(str(tmp_path / "new"))
    module = ckpt.Module()
    saver = ckpt.CheckpointableSaver(module)
    old_status = saver.restore(old)
    new_status = saver.restore(new)
    module.v = ckpt.Variable(f32(0))
    assert module.v.numpy() == 2
    check(new_status, ALL_PASS)
    check(old_status, ALL_PASS)


def test_older_status_after_newer_immediate_restore(tmp_path) -> None:
    old = ckpt.Checkpoint(v=ckpt.Variable(f32(1))).write(str(tmp_path / "old"))
    new = ckpt.Checkpoint(v=ckpt.Variable(f32(2))).write(str(tmp_path / "new"))
    module = model(v=0)
    saver = ckpt.CheckpointableSaver(module)
    old_status = saver.restore(old)
    new_status = saver.restore(new)
    assert module.v.numpy() == 2
    check(old_status, ALL_PASS)
    check(new_status, ALL_PASS)


def test_expect_partial_and_no_ops(tmp_path) -> None:
    prefix = ckpt.Checkpoint(m=model(w=1, b=2)).save(str(tmp_path / "c"))
    status = ckpt.Checkpoint(m=model(w=0)).restore(prefix)
    assert status.expect_partial() is status
    assert status.run_restore_ops() is None
    assert status.initialize_or_restore() is None
    # expect_partial changes nothing about the assertions
    assert outcome(status, "assert_consumed") != "pass"
    assert status.assert_existing_objects_matched().expect_partial() is status


def test_empty_containers_do_not_count_as_unmatched(tmp_path) -> None:
    prefix = ckpt.Checkpoint(m=model(w=1)).save(str(tmp_path / "c"))
    target = model(w=0)
    target.empty = []
    target.config = {"a": 1}
    target.nothing = ckpt.Module()
    check(ckpt.Checkpoint(m=target).restore(prefix), ALL_PASS)


def test_python_state_participates(tmp_path) -> None:
    prefix = ckpt.Checkpoint(state=ckpt.JsonState(1)).save(str(tmp_path / "p"))
    check(ckpt.Checkpoint(state=ckpt.JsonState(0)).restore(prefix), ALL_PASS)
    status = ckpt.Checkpoint(state=ckpt.JsonState(0), other=ckpt.JsonState(0)).restore(prefix)
    assert "(root).other" in outcome(status, "assert_existing_objects_matched")


@pytest.mark.parametrize("method", ASSERTIONS)
def test_failures_are_assertion_errors_with_reports(tmp_path, method) -> None:
    prefix = ckpt.CheckpointableSaver(model(a=1)).save(str(tmp_path / "x"))
    status = ckpt.CheckpointableSaver(model(z=0)).restore(prefix)
    with pytest.raises(AssertionError) as info:
        getattr(status, method)()
    error = info.value
    assert isinstance(error, CheckpointAssertionError)
    report = error.report
    assert isinstance(report, ckpt.RestoreReport)
    assert report.missing_from_checkpoint == ["(root).z"]
    assert report.unused_in_checkpoint == ["a/.ATTRIBUTES/VARIABLE_VALUE"]
    assert error.path == prefix


def test_no_warnings_or_logs_when_a_partial_restore_is_collected(tmp_path, caplog) -> None:
    import gc
    import logging
    import warnings

    prefix = ckpt.Checkpoint(m=model(w=1, b=2)).save(str(tmp_path / "gc"))
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.DEBUG):
        warnings.simplefilter("always")
        target = ckpt.Checkpoint(m=model(w=0, extra=0))
        status = target.restore(prefix)
        del status, target
        gc.collect()
    assert caught == []
    assert caplog.records == []
