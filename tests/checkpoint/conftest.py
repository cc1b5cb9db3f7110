"""Fixtures for the object-layer tests: reading back the object graph a save wrote.

The helpers decode the ``TrackableObjectGraph`` with ckpt's protos and compute node paths with
their own breadth-first walk (independent of ``ckpt.checkpoint.graph``), so the tests compare
the library against the format document rather than against itself.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import ckpt
from ckpt.format import protos
from ckpt.format.bundle_reader import BundleReader

GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"


def load_graph(prefix: str) -> Any:
    """The ``TrackableObjectGraph`` stored in the checkpoint at ``prefix``."""
    with ckpt.CheckpointReader(prefix) as reader:
        raw = reader.get_tensor(GRAPH_KEY)
    assert raw.shape == () and raw.dtype == object
    return protos.TrackableObjectGraph.FromString(raw.item())


def escape(name: str) -> str:
    return name.replace(".", "..").replace("/", ".S")


def node_paths(graph: Any) -> dict[int, str]:
    """Escaped BFS (shortest) path of every node reachable through ``children`` edges."""
    paths = {0: ""}
    queue = deque([0])
    while queue:
        node = queue.popleft()
        for ref in graph.nodes[node].children:
            if ref.node_id not in paths:
                parent = paths[node]
                paths[ref.node_id] = (
                    f"{parent}/{escape(ref.local_name)}" if parent else escape(ref.local_name)
                )
                queue.append(ref.node_id)
    return paths


def data_order(prefix: str) -> list[str]:
    """Keys in the order their bytes appear in the (single) data shard."""
    reader = BundleReader(prefix)
    try:
        entries = [reader.entry(key) for key in reader]
    finally:
        reader.close()
    assert {e.shard_id for e in entries} <= {0}
    return [e.key for e in sorted(entries, key=lambda e: e.offset)]


def tensors(prefix: str) -> dict[str, np.ndarray]:
    with ckpt.CheckpointReader(prefix) as reader:
        return {key: reader.get_tensor(key) for key in reader if key != GRAPH_KEY}


@pytest.fixture
def read_graph() -> Callable[[str], Any]:
    return load_graph


@pytest.fixture
def paths_of() -> Callable[[Any], dict[int, str]]:
    return node_paths


@pytest.fixture
def order_of_data() -> Callable[[str], list[str]]:
    return data_order


@pytest.fixture
def read_tensors() -> Callable[[str], dict[str, np.ndarray]]:
    return tensors
