"""TF's assignment-map rules (``init_from_checkpoint``), turned into a checked list of assignments.

The rules follow ``tf.compat.v1.train.init_from_checkpoint`` (format doc §7.2): pairs are
processed sorted by checkpoint name; a target that is a variable, a list of parts, a name or a
partitioned name (``<name>/part_<k>``) is filled from one tensor; any other target string is a
scope map (``'old/': 'new/'``, ``'/': 'sub/'``, ``'old/': '/'``). Beyond TF: glob and regex
keys (:mod:`ckpt.warmstart.patterns`), per-tensor transforms, parts without slice info (the
partition axis is inferred from the shapes), and every check runs before anything is read.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ckpt.errors import AssignmentMapError, DtypeMismatchError, ShapeMismatchError
from ckpt.reader import CheckpointReader
from ckpt.trackable.partitioned import PartitionedVariable
from ckpt.warmstart.patterns import Pattern, compile_pattern, is_pattern
from ckpt.warmstart.plan import Assignment
from ckpt.warmstart.targets import Target, as_target
from ckpt.warmstart.transforms import (
    Transform,
    TransformLike,
    as_chain,
    chain_output,
    source_region,
)

__all__ = ["CheckpointNames", "plan_assignments"]

OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"
_VALUE_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"

Bounds = tuple[tuple[int, int], ...]


class CheckpointNames:
    """A checkpoint's tensor names as warm starts see them.

    Object-based keys ``<path>/.ATTRIBUTES/VARIABLE_VALUE`` are also reachable as ``<path>``;
    :attr:`names` lists each tensor once, under that short name when it has one.
    """

    def __init__(self, reader: CheckpointReader) -> None:
        self.reader = reader
        self.shapes = {k: tuple(v) for k, v in reader.get_variable_to_shape_map().items()}
        self.dtypes = reader.get_variable_to_dtype_map()
        self._alias: dict[str, str] = {}
        for key in self.shapes:
            if key.endswith(_VALUE_SUFFIX):
                self._alias.setdefault(key[: -len(_VALUE_SUFFIX)], key)
        self.names = sorted(
            key[: -len(_VALUE_SUFFIX)] if key.endswith(_VALUE_SUFFIX) else key
            for key in self.shapes
            if key != OBJECT_GRAPH_KEY
        )

    def key_of(self, name: str) -> str | None:
        """The checkpoint key for ``name`` (a key itself or a short object-based name)."""
        if name in self.shapes:
            return name
        return self._alias.get(name)

    def short(self, key: str) -> str:
        return key[: -len(_VALUE_SUFFIX)] if key.endswith(_VALUE_SUFFIX) else key


class _Transforms:
    """Which transforms apply to a checkpoint tensor, from ``transforms=`` (names or globs)."""

    def __init__(self, spec: Mapping[Any, TransformLike] | None) -> None:
        self._exact: dict[str, tuple[Transform, ...]] = {}
        self._patterns: list[tuple[Pattern, tuple[Transform, ...]]] = []
        for key, value in (spec or {}).items():
            chain = as_chain(value)
            if is_pattern(key):
                self._patterns.append((compile_pattern(key, ""), chain))
            elif isinstance(key, str):
                self._exact[key] = chain
            else:
                raise AssignmentMapError(
                    f"transforms keys are checkpoint names or patterns, got {key!r}"
                )
        self.used: set[int] = set()

    def for_tensor(self, names: Sequence[str]) -> tuple[Transform, ...]:
        for name in names:
            if name in self._exact:
                return self._exact[name]
        found = [
            (pattern, chain)
            for pattern, chain in self._patterns
            if any(pattern.target_for(name) is not None for name in names)
        ]
        if len(found) > 1:
            raise AssignmentMapError(
                f"transforms patterns {[p.text for p, _ in found]} all match checkpoint tensor "
                f"{names[0]!r}; make them exclusive"
            )
        return found[0][1] if found else ()


def _expand(
    pairs: list[tuple[Any, Any]], names: CheckpointNames, label: str
) -> list[tuple[str, Any, str | None]]:
    """Replace pattern keys by the concrete (checkpoint name, target name) pairs they match,
    each with the pattern it came from (``None`` for a plain key)."""
    out: list[tuple[str, Any, str | None]] = []
    for key, target in pairs:
        if not is_pattern(key):
            if not isinstance(key, str):
                raise AssignmentMapError(
                    f"assignment map keys are checkpoint names (str) or re.compile patterns, "
                    f"got {key!r}"
                )
            out.append((key, target, None))
            continue
        pattern = compile_pattern(key, target)
        matched = [(name, pattern.target_for(name)) for name in names.names]
        hits = [(name, new) for name, new in matched if new is not None]
        if not hits:
            raise AssignmentMapError(
                f"Assignment map pattern {pattern.text!r} matches no tensor in {label} "
                "checkpoint",
                path=label,
            )
        out.extend((name, new, pattern.text) for name, new in hits if new is not None)
    return out


def _partition_parts(name: str, namespace: Mapping[str, Target]) -> list[Target] | None:
    parts: list[Target] = []
    while f"{name}/part_{len(parts)}" in namespace:
        parts.append(namespace[f"{name}/part_{len(parts)}"])
    return parts or None


def _resolve(target: Any, namespace: Mapping[str, Target]) -> Target | list[Target] | None:
    """A variable or list of parts for a map value, or ``None`` for a scope string."""
    if isinstance(target, Target):
        return target
    if isinstance(target, str):
        found = namespace.get(target)
        if found is not None:
            return found
        return _partition_parts(target, namespace)
    if isinstance(target, PartitionedVariable):
        return [as_target(part) for part in target.parts]
    if isinstance(target, (list, tuple)):
        if not target:
            raise AssignmentMapError("assignment map target is an empty list of variables")
        return [as_target(item) for item in target]
    return as_target(target)


def _not_found(ckpt_name: str, names: CheckpointNames, label: str) -> AssignmentMapError:
    close = difflib.get_close_matches(ckpt_name, names.names, n=3)
    hint = f" Close names: {', '.join(close)}." if close else ""
    return AssignmentMapError(
        f"Tensor {ckpt_name} is not found in {label} checkpoint "
        f"({len(names.names)} tensors).{hint}",
        path=label,
        key=ckpt_name,
    )


def _shape_str(shape: Sequence[int]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _infer_regions(
    parts: list[Target], full: tuple[int, ...], ckpt_name: str
) -> list[Bounds] | None:
    """Regions of parts without slice info: concatenated along the one axis that fits."""
    shapes = [p.shape for p in parts]
    if len(parts) == 1:
        return [tuple((0, d) for d in full)] if shapes[0] == full else None
    for axis in range(len(full)):
        if any(len(s) != len(full) for s in shapes):
            return None
        others_fit = all(
            s[a] == full[a] for s in shapes for a in range(len(full)) if a != axis
        )
        if others_fit and sum(s[axis] for s in shapes) == full[axis]:
            regions = []
            start = 0
            for s in shapes:
                regions.append(
                    tuple(
                        (start, start + s[a]) if a == axis else (0, full[a])
                        for a in range(len(full))
                    )
                )
                start += s[axis]
            return regions
    return None


class _Planner:
    def __init__(
        self,
        names: CheckpointNames,
        namespace: Mapping[str, Target],
        transforms: _Transforms,
        label: str,
    ) -> None:
        self.names = names
        self.namespace = namespace
        self.transforms = transforms
        self.label = label
        self.assignments: list[Assignment] = []
        self._assigned: dict[int, int] = {}  # id(variable) -> its latest assignment's index
        self._superseded: set[int] = set()  # indexes of assignments a later one replaced
        self.pattern: str | None = None  # the pattern the pair being planned came from
        self._patterns: list[str | None] = []  # that of each assignment

    def one_to_one(self, ckpt_name: str, var: Target | list[Target]) -> None:
        key = self.names.key_of(ckpt_name)
        if key is None and isinstance(var, list) and self._stored_as_parts(ckpt_name, var):
            # An object-based checkpoint of a partitioned variable keeps its parts apart.
            for k, part in enumerate(var):
                self.one_to_one(f"{ckpt_name}/part_{k}", part)
            return
        if key is None:
            raise _not_found(ckpt_name, self.names, self.label)
        stored_shape = self.names.shapes[key]
        stored_dtype = self.names.dtypes.get(key)
        chain = self.transforms.for_tensor([ckpt_name, self.names.short(key), key])
        out_shape, out_dtype = chain_output(
            chain, stored_shape, stored_dtype if stored_dtype is not None else np.dtype(object)
        )
        if isinstance(var, Target):
            if out_shape is not None and out_shape != var.shape:
                raise ShapeMismatchError(
                    f"Shape of variable {var.name} ({_shape_str(var.shape)}) doesn't match with "
                    f"shape of tensor {ckpt_name} ({list(out_shape)}) from checkpoint reader."
                    + _transform_note(chain, stored_shape),
                    path=self.label,
                    key=var.name,
                    checkpoint_key=key,
                )
            self._add(key, var, None, chain, stored_shape, stored_dtype, out_dtype)
            return
        regions = self._part_regions(ckpt_name, key, var, out_shape, chain, stored_shape)
        for part, region in zip(var, regions, strict=True):
            self._add(key, part, region, chain, stored_shape, stored_dtype, out_dtype)

    def _stored_as_parts(self, ckpt_name: str, parts: list[Target]) -> bool:
        """Whether the checkpoint holds ``<name>/part_<k>`` for exactly these parts."""
        for k, part in enumerate(parts):
            key = self.names.key_of(f"{ckpt_name}/part_{k}")
            if key is None or self.names.shapes[key] != part.shape:
                return False
        return self.names.key_of(f"{ckpt_name}/part_{len(parts)}") is None

    def _part_regions(
        self,
        ckpt_name: str,
        key: str,
        parts: list[Target],
        out_shape: tuple[int, ...] | None,
        chain: tuple[Transform, ...],
        stored_shape: tuple[int, ...],
    ) -> list[Bounds]:
        infos = [p.slice_info for p in parts]
        if out_shape is None:
            raise AssignmentMapError(
                f"cannot split tensor {ckpt_name} into parts through a function transform "
                "whose output shape is unknown; use the built-in transforms",
                key=ckpt_name,
            )
        names = ", ".join(p.name for p in parts)
        if all(info is not None for info in infos):
            full_names = [info.full_name for info in infos if info is not None]
            for other in full_names[1:]:
                if other != full_names[0]:
                    raise AssignmentMapError(
                        f"Slices must all be from the same tensor: {full_names[0]} != {other}",
                        key=ckpt_name,
                    )
            regions = []
            for part, info in zip(parts, infos, strict=True):
                assert info is not None
                if info.full_shape != out_shape:
                    raise ShapeMismatchError(
                        f"Shape of partitioned variable {info.full_name} "
                        f"({_shape_str(info.full_shape)}) doesn't match with shape of tensor "
                        f"{ckpt_name} ({list(out_shape)}) from checkpoint reader."
                        + _transform_note(chain, stored_shape),
                        path=self.label,
                        key=part.name,
                        checkpoint_key=key,
                    )
                regions.append(info.bounds)
            return regions
        if any(info is not None for info in infos):
            raise AssignmentMapError(
                f"parts {names} of tensor {ckpt_name}: either all or none must carry "
                "save_slice_info",
                key=ckpt_name,
            )
        inferred = _infer_regions(parts, out_shape, ckpt_name)
        if inferred is None:
            shapes = ", ".join(_shape_str(p.shape) for p in parts)
            raise ShapeMismatchError(
                f"Parts {names} with shapes {shapes} do not split tensor {ckpt_name} "
                f"{_shape_str(out_shape)} along one axis; give them save_slice_info",
                path=self.label,
                key=parts[0].name,
                checkpoint_key=key,
            )
        return inferred

    def _add(
        self,
        key: str,
        target: Target,
        region: Bounds | None,
        chain: tuple[Transform, ...],
        stored_shape: tuple[int, ...],
        stored_dtype: np.dtype[Any] | None,
        out_dtype: np.dtype[Any] | None,
    ) -> None:
        if stored_dtype is None:
            raise AssignmentMapError(
                f"tensor {key} has a dtype ckpt cannot read into a variable", key=key
            )
        if out_dtype is not None and out_dtype != target.dtype:
            raise DtypeMismatchError(
                f"tensor {key} is {out_dtype}{' after transforms' if chain else ''} but "
                f"variable {target.name} is {target.dtype}; add ckpt.transforms.Cast"
                f"({target.dtype.name!r}) to convert it",
                path=self.label,
                key=target.name,
                checkpoint_key=key,
            )
        # As in TF, where each pair in sorted order replaces the variable's initializer, a
        # variable assigned again takes the later value ("old/": "new/" plus an override).
        previous = self._assigned.get(id(target.obj))
        if previous is not None:
            earlier = self.assignments[previous]
            if self.pattern is not None and self._patterns[previous] == self.pattern:
                # One pattern (ckpt's own feature) sending several tensors to one variable
                # is a mistake in the pattern, not an override.
                raise AssignmentMapError(
                    f"variable {target.name} is assigned twice: from {earlier.checkpoint_key} "
                    f"and from {key}, both matched by pattern {self.pattern!r}",
                    key=target.name,
                )
            self._superseded.add(previous)
        self._assigned[id(target.obj)] = len(self.assignments)
        self._patterns.append(self.pattern)
        source = _source(chain, region, stored_shape)
        index = None if source is None else tuple(slice(a, b) for a, b in source)
        # The stored pieces the source region touches (whole pieces when verifying).
        read = self.names.reader.bytes_to_read(key, index)
        self.assignments.append(
            Assignment(
                checkpoint_key=key,
                target_name=target.name,
                shape=target.shape,
                dtype=target.dtype,
                stored_shape=stored_shape,
                stored_dtype=stored_dtype,
                region=region,
                transforms=chain,
                read_bytes=read,
                source=source,
                target=target,
            )
        )

    def scope(self, ckpt_name: str, target: str) -> None:
        scopes = target[: target.rindex("/")] if "/" in target else ""
        if not ckpt_name.endswith("/"):
            message = (
                f"Assignment map with scope only name {scopes} should map to scope only "
                f"{ckpt_name}. Should be 'scope/': 'other_scope/'."
            )
            if "/" not in target:
                # No scope at all: most likely a misspelt variable; TF's message alone (with
                # its empty scope name) would not say so.
                close = difflib.get_close_matches(target, list(self.namespace), n=3)
                hint = f" Close names: {', '.join(close)}." if close else ""
                message += f" ({target!r} is not a variable of the root either.{hint})"
            raise AssignmentMapError(message, key=ckpt_name)
        if "/" not in target:
            raise AssignmentMapError(
                f"assignment map target {target!r} is neither a variable nor a scope (scope "
                "names end with '/'); known variables: "
                + ", ".join(sorted(self.namespace)[:5])
                + ("…" if len(self.namespace) > 5 else ""),
                key=target,
            )
        logical: dict[str, None] = {}
        for var_name in sorted(self.namespace):
            if scopes and not var_name.startswith(scopes + "/"):
                continue
            if "/part_" in var_name:
                var_name = var_name[: var_name.index("/part_")]
            logical.setdefault(var_name, None)
        # A tied variable has several names: it is assigned once, from the first of its names
        # in the scope (the stored one first) that the checkpoint has.
        candidates: dict[Any, list[tuple[str, str, Target | list[Target]]]] = {}
        for var_name in logical:
            full = var_name[len(scopes) :]
            if target != "/":
                full = full[1:]
            if ckpt_name != "/":
                full = ckpt_name + full
            if full.endswith("/"):
                full = full[:-1]
            var = self.namespace.get(var_name) or _partition_parts(var_name, self.namespace)
            assert var is not None
            identity = (
                tuple(id(p.obj) for p in var) if isinstance(var, list) else id(var.obj)
            )
            entry = (var_name, full, var)
            names = candidates.setdefault(identity, [])
            if _is_stored_name(var):
                names.insert(0, entry)
            else:
                names.append(entry)
        for names in sorted(candidates.values(), key=lambda names: names[0][0]):
            for _, full, var in names:
                stored_as_parts = isinstance(var, list) and self._stored_as_parts(full, var)
                if self.names.key_of(full) is not None or stored_as_parts:
                    self.one_to_one(full, var)
                    break
            else:
                var_name, full, _ = names[0]
                raise AssignmentMapError(
                    f"Tensor {full} ({var_name[len(scopes) + 1 :]} in {ckpt_name}) is not found "
                    f"in {self.label} checkpoint",
                    path=self.label,
                    key=full,
                )


def _is_stored_name(var: Target | list[Target]) -> bool:
    """Whether this name of a variable is the one a checkpoint stores it under."""
    return isinstance(var, list) or var.alias_of is None


def _source(
    chain: tuple[Transform, ...], region: Bounds | None, stored_shape: tuple[int, ...]
) -> Bounds | None:
    """The region of the stored tensor an assignment reads (after ``chain`` it gives
    ``region``, or the whole output), or ``None`` when only the whole tensor will do."""
    out_shape, _ = chain_output(chain, stored_shape, np.dtype(np.float32))
    if out_shape is None:
        return None
    wanted = region if region is not None else tuple((0, d) for d in out_shape)
    return source_region(chain, wanted, stored_shape)


def _transform_note(chain: tuple[Transform, ...], stored: tuple[int, ...]) -> str:
    if not chain:
        return ""
    return f" (stored as {_shape_str(stored)}, then transformed)"


def plan_assignments(
    names: CheckpointNames,
    assignment_map: Mapping[Any, Any] | Sequence[tuple[Any, Any]],
    namespace: Mapping[str, Target],
    transforms: Mapping[Any, TransformLike] | None,
    label: str,
) -> list[Assignment]:
    """Check ``assignment_map`` against the checkpoint and the targets; return the assignments.

    Raises the first problem found (as TF, in sorted order), before anything is read.
    """
    if isinstance(assignment_map, Mapping):
        pairs = list(assignment_map.items())
    else:
        pairs = []
        for item in assignment_map:
            if not isinstance(item, (tuple, list)) or len(item) != 2:
                raise AssignmentMapError(
                    f"assignment map lists hold (checkpoint_name, target) pairs, got {item!r}"
                )
            pairs.append((item[0], item[1]))
    concrete = _expand(pairs, names, label)
    planner = _Planner(names, namespace, _Transforms(transforms), label)
    for ckpt_name, target, pattern in sorted(concrete, key=lambda pair: pair[0]):
        var = _resolve(target, namespace)
        planner.pattern = pattern
        if var is not None:
            planner.one_to_one(ckpt_name, var)
        elif isinstance(target, str):
            planner.scope(ckpt_name, target)
    return [a for i, a in enumerate(planner.assignments) if i not in planner._superseded]
