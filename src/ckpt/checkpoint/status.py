"""What a restore did: TF's status assertions, and a structured report you can print.

The assertions keep TF's semantics (format doc §6.4) and raise
:class:`~ckpt.errors.CheckpointAssertionError`, which is also an ``AssertionError``. Nothing
is ever reported from ``__del__``: what a restore left out is in :meth:`report`, when you ask.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ckpt.checkpoint.restore import (
    Mismatch,
    RestoreCoordinator,
    python_objects_with_values,
    tensors_of_cheap,
)
from ckpt.errors import CheckpointAssertionError

__all__ = [
    "CheckpointLoadStatus",
    "InitializationOnlyStatus",
    "NameBasedSaverStatus",
    "RestoreReport",
]

_SHOWN = 10  # objects listed in an assertion message


@dataclass
class RestoreReport:
    """Everything a restore matched and did not, as plain data.

    Attributes:
        checkpoint: the checkpoint prefix.
        matched: ``(object path, checkpoint key)`` of every value assigned.
        missing_from_checkpoint: Python objects with values that the checkpoint has none for.
        unused_in_checkpoint: checkpoint keys nothing in Python has used (yet). This includes
            the values of a checkpoint object whose Python object was already restored from
            another one (the program ties what the saved one did not); as in TF, those do
            not fail ``assert_consumed``.
        pending: deferred restorations waiting for a dependency to be added.
        mismatches: values that did not fit their object (shape or dtype).
    """

    checkpoint: str
    matched: list[tuple[str, str]] = field(default_factory=list)
    missing_from_checkpoint: list[str] = field(default_factory=list)
    unused_in_checkpoint: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    mismatches: list[Mismatch] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """True when everything matched both ways and nothing is pending."""
        return not (
            self.missing_from_checkpoint
            or self.unused_in_checkpoint
            or self.pending
            or self.mismatches
        )

    def __str__(self) -> str:
        lines = [
            f"Restore from {self.checkpoint}: {len(self.matched)} matched, "
            f"{len(self.missing_from_checkpoint)} missing from the checkpoint, "
            f"{len(self.unused_in_checkpoint)} unused in the checkpoint, "
            f"{len(self.pending)} pending, {len(self.mismatches)} mismatched"
        ]
        rows: list[tuple[str, str, str]] = []
        rows += [("matched", path, key) for path, key in self.matched]
        rows += [("missing from checkpoint", path, "") for path in self.missing_from_checkpoint]
        rows += [("unused in checkpoint", "", key) for key in self.unused_in_checkpoint]
        rows += [("pending (deferred)", path, "") for path in self.pending]
        rows += [
            (f"{m.kind} mismatch", m.path, f"{m.checkpoint_key}: {m.found} vs {m.expected}")
            for m in self.mismatches
        ]
        if rows:
            widths = [max(len(r[i]) for r in [*rows, ("status", "object", "")]) for i in (0, 1)]
            lines.append(f"  {'status':<{widths[0]}}  {'object':<{widths[1]}}  checkpoint key")
            lines += [f"  {s:<{widths[0]}}  {o:<{widths[1]}}  {k}".rstrip() for s, o, k in rows]
        return "\n".join(lines)


def _fail(message: str, report: RestoreReport) -> CheckpointAssertionError:
    return CheckpointAssertionError(message, path=report.checkpoint, report=report)


class CheckpointLoadStatus:
    """The status of an object-based restore (``Checkpoint.restore`` on a TF2-style checkpoint).

    The assertions return ``self`` when they pass, so they chain::

        checkpoint.restore(path).assert_existing_objects_matched().expect_partial()
    """

    def __init__(self, coordinator: RestoreCoordinator, root: Any) -> None:
        self._coordinator = coordinator
        self._root = root
        self._partial = False

    def report(self) -> RestoreReport:
        """A snapshot of what this restore has matched so far (deferred ones included)."""
        c = self._coordinator
        report = RestoreReport(c.prefix, matched=[(c.dotted(n), k) for n, k in c.matched])
        report.missing_from_checkpoint = [path for path, _ in self._unbound_python_objects()]
        unused = [key for node in c.unbound_with_values() for _, key in c.attributes[node]]
        for node, names in c.unused_attributes.items():
            unused += [key for name, key in c.attributes[node] if name in names]
        unused += [key for node in c.shadowed for _, key in c.attributes[node]]
        report.unused_in_checkpoint = sorted(set(unused))
        report.pending = [f"{parent}.{name}" for parent, name in c.pending_deferred()]
        report.pending += self._waiting_values()
        report.mismatches = list(c.mismatches)
        return report

    def _waiting_values(self) -> list[str]:
        """Objects holding a restored value they cannot take yet (``_ckpt_restore_pending``:
        a lazy torch parameter before its first forward)."""
        c = self._coordinator
        return [
            c.dotted(node)
            for node, obj in c.bound.items()
            if c.node_of.get(id(obj)) == node and getattr(obj, "_ckpt_restore_pending", False)
        ]

    def _unbound_python_objects(self) -> list[tuple[str, Any]]:
        c = self._coordinator
        return [(p, o) for p, o in python_objects_with_values(self._root) if id(o) not in c.node_of]

    def assert_existing_objects_matched(self) -> CheckpointLoadStatus:
        """Every Python object that exists now got a value, and every one was in the checkpoint.

        Checkpoint values nothing asked for do not fail it.
        """
        c = self._coordinator
        report = self.report()
        for node, obj in c.bound.items():
            # Not assigned: the checkpoint has values for this node, none reached the object,
            # and no newer restore did either. (A node without values binds silently, as in TF.)
            if (
                c.attributes[node]
                and id(obj) not in c.restored_ids
                and getattr(obj, "_ckpt_update_uid", c.uid) <= c.uid
                and tensors_of_cheap(obj)
            ):
                raise _fail(
                    f"Object {c.dotted(node)} not assigned a value from checkpoint.", report
                )
        unmatched = report.missing_from_checkpoint
        if unmatched:
            raise _fail(
                f"Found {len(unmatched)} Python objects that were not bound to checkpointed "
                "values, likely due to changes in the Python program. Showing "
                f"{min(len(unmatched), _SHOWN)} of {len(unmatched)} unmatched objects: "
                f"{unmatched[:_SHOWN]}",
                report,
            )
        return self

    def assert_consumed(self) -> CheckpointLoadStatus:
        """Everything in the checkpoint was used, and every Python object got a value."""
        self.assert_existing_objects_matched()
        c = self._coordinator
        report = self.report()
        for node in c.unbound_with_values():
            if node in c.slot_nodes:
                continue
            attributes = [name for name, _ in c.attributes[node]]
            raise _fail(
                f"Unresolved object in checkpoint {c.dotted(node)}: attributes {attributes}",
                report,
            )
        pending_slots = c.pending_slots()
        if pending_slots:
            raise _fail(f"Unresolved slot restorations: {pending_slots}", report)
        waiting = self._waiting_values()
        if waiting:
            raise _fail(
                f"Restored values not yet applied to {waiting}: they are applied when these "
                "objects are built (a lazy module's first forward pass)",
                report,
            )
        if c.unused_attributes:
            unused = {c.dotted(n): names for n, names in c.unused_attributes.items()}
            raise _fail(
                "Unused attributes in these objects (the attributes exist in the checkpoint but "
                f"were not restored): {unused}",
                report,
            )
        return self

    def assert_nontrivial_match(self) -> CheckpointLoadStatus:
        """Something besides the root matched."""
        c = self._coordinator
        if len(c.bound) > 1:
            return self
        report = self.report()
        if report.missing_from_checkpoint:
            raise _fail(
                "Nothing except the root object matched a checkpointed value. Typically this "
                "means that the checkpoint does not match the Python program. The following "
                "objects have no matching checkpointed value: "
                f"{report.missing_from_checkpoint[:_SHOWN]}",
                report,
            )
        raise _fail(
            f"Nothing to load. No dependencies have been added to {self._root!r} yet.", report
        )

    def expect_partial(self) -> CheckpointLoadStatus:
        """Mark the restore as intentionally partial (ckpt never warns, so it just returns self)."""
        self._partial = True
        return self

    def run_restore_ops(self, session: Any = None) -> None:
        """Values are assigned eagerly; kept for TF1-style code."""

    def initialize_or_restore(self, session: Any = None) -> None:
        """Values are assigned eagerly and unrestored objects keep their initial values."""

    def __repr__(self) -> str:
        return f"<CheckpointLoadStatus {self._coordinator.prefix}>"


class InitializationOnlyStatus:
    """The status of ``restore(None)``: nothing is restored, objects keep their initial values."""

    def __init__(self, root: Any) -> None:
        self._root = root

    def report(self) -> RestoreReport:
        return RestoreReport(
            "(none)",
            missing_from_checkpoint=[path for path, _ in python_objects_with_values(self._root)],
        )

    def _fail(self) -> CheckpointAssertionError:
        return _fail(
            "No checkpoint specified (save_path=None); nothing is being restored.", self.report()
        )

    def assert_consumed(self) -> InitializationOnlyStatus:
        raise self._fail()

    def assert_existing_objects_matched(self) -> InitializationOnlyStatus:
        raise self._fail()

    def assert_nontrivial_match(self) -> InitializationOnlyStatus:
        raise self._fail()

    def expect_partial(self) -> InitializationOnlyStatus:
        return self

    def run_restore_ops(self, session: Any = None) -> None:
        """Nothing to run."""

    def initialize_or_restore(self, session: Any = None) -> None:
        """Objects already hold their initial values."""


class NameBasedSaverStatus:
    """The status of restoring a name-based (TF1 ``Saver``) checkpoint by variable names."""

    def __init__(self, report: RestoreReport, optional: set[str]) -> None:
        self._report = report
        self._optional = optional

    def report(self) -> RestoreReport:
        return self._report

    def assert_consumed(self) -> NameBasedSaverStatus:
        """Every variable reachable from the root found its value by name."""
        missing = [p for p in self._report.missing_from_checkpoint if p not in self._optional]
        if missing:
            raise _fail(f"Object not restored: {missing[:_SHOWN]}", self._report)
        return self

    def assert_existing_objects_matched(self) -> NameBasedSaverStatus:
        return self.assert_consumed()

    def assert_nontrivial_match(self) -> NameBasedSaverStatus:
        return self.assert_consumed()

    def expect_partial(self) -> NameBasedSaverStatus:
        return self

    def run_restore_ops(self, session: Any = None) -> None:
        """Values are assigned eagerly."""

    def initialize_or_restore(self, session: Any = None) -> None:
        """Values are assigned eagerly."""
