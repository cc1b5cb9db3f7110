"""``ckpt ls`` (keys, dtypes, shapes, sizes, shards; or the object graph) and ``ckpt latest``."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import ckpt
from ckpt import ObjectNode, object_graph
from ckpt.cli.render import Styler, human_bytes, print_json, render_table, use_color
from ckpt.errors import UnsupportedCheckpointError

__all__ = ["run_latest", "run_ls"]


def _shape(shape: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def run_ls(args: argparse.Namespace) -> int:
    with ckpt.load_checkpoint(args.path, verify=True) as reader:
        if args.tree:
            return _tree(reader, as_json=args.json)
        infos = [reader.get_tensor_info(key) for key in reader]
        totals = {
            "tensors": len(infos),
            "nbytes": sum(i.nbytes for i in infos),
            "shards": reader.num_shards,
        }
        if args.json:
            tensors = [
                {
                    "name": i.name,
                    "dtype": i.tf_dtype,
                    "shape": list(i.shape),
                    "nbytes": i.nbytes,
                    "shard": i.shard,
                    "slices": list(i.slices),
                }
                for i in infos
            ]
            print_json({"prefix": reader.prefix, "tensors": tensors, "totals": totals}, clean=False)
            return 0
        styler = Styler(use_color(sys.stdout))
        rows = (
            (
                i.tf_dtype,
                _shape(i.shape),
                human_bytes(i.nbytes),
                "-" if i.shard is None else str(i.shard),
                i.name + (f"  (sliced: {' '.join(i.slices)})" if i.slices else ""),
            )
            for i in infos
        )
        lines = render_table(
            ("dtype", "shape", "size", "shard", "name"),
            rows,
            right=(2, 3),
            styles=("cyan", None, "green", "dim", None),
            styler=styler,
        )
        lines.append(
            styler(
                f"{totals['tensors']} tensors, {human_bytes(totals['nbytes'])} "
                f"({totals['nbytes']:,} bytes), {totals['shards']} shard(s)",
                "bold",
            )
        )
        sys.stdout.write("\n".join(lines) + "\n")
    return 0


def _tree(reader: ckpt.CheckpointReader, *, as_json: bool) -> int:
    nodes = object_graph(reader)
    if as_json:
        print_json([_node_json(n) for n in nodes])
        return 0
    from rich.console import Console
    from rich.markup import escape
    from rich.tree import Tree

    infos = {}
    for node in nodes:
        for _, _, key in node.attributes:
            if reader.has_tensor(key):
                infos[key] = reader.get_tensor_info(key)
    color = use_color(sys.stdout)
    # Piped, rich would crop lines to 80 columns: give it room for the longest key instead.
    console = Console(
        file=sys.stdout,
        no_color=not color,
        force_terminal=color,
        width=None if color else 100_000,
        highlight=False,
    )

    def label(name: str, node: ObjectNode) -> str:
        return f"[bold]{escape(name)}[/bold] [dim]#{node.node_id}[/dim]"

    def add(tree: Tree, node: ObjectNode, seen: set[int]) -> None:
        for attr, _, key in node.attributes:
            info = infos.get(key)
            detail = f"{info.tf_dtype} {_shape(info.shape)}" if info else "missing"
            tree.add(f"[green]{escape(attr)}[/green] [cyan]{detail}[/cyan] {escape(key)}")
        for original, slot_name, slot in node.slot_variables:
            tree.add(
                f"[magenta]slot {escape(slot_name)}[/magenta] of #{original} -> "
                f"{escape(nodes[slot].path)} #{slot}"
            )
        for name, child in node.children:
            if child in seen:  # a shared object: show it once, refer to it afterwards
                see = escape(nodes[child].path)
                tree.add(f"{label(name, nodes[child])} [dim](see {see})[/dim]")
                continue
            seen.add(child)
            add(tree.add(label(name, nodes[child])), nodes[child], seen)

    root = Tree(f"[bold](root)[/bold] [dim]{escape(reader.prefix)}[/dim]")
    seen = {0}
    try:
        add(root, nodes[0], seen)
        for node in nodes:  # slot variables and unreachable nodes, under their own path
            if node.node_id not in seen:
                seen.add(node.node_id)
                add(root.add(label(node.path, node)), node, seen)
        console.print(root)
    except RecursionError:
        # Drawing (here and in rich) recurses once per level of the graph.
        raise UnsupportedCheckpointError(
            f"the object graph of {reader.prefix} is too deep to draw as a tree; "
            "use ckpt ls --tree --json",
            path=reader.prefix,
        ) from None
    return 0


def _node_json(node: ObjectNode) -> dict[str, Any]:
    return {
        "node_id": node.node_id,
        "path": node.path,
        "children": [{"name": n, "node_id": i} for n, i in node.children],
        "attributes": [
            {"name": n, "full_name": f, "checkpoint_key": k} for n, f, k in node.attributes
        ],
        "slot_variables": [
            {"original_node_id": o, "slot_name": s, "slot_node_id": n}
            for o, s, n in node.slot_variables
        ],
    }


def _newest_prefix(directory: str) -> str | None:
    """The local checkpoint in ``directory`` whose ``.index`` (written last) is newest."""
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return None
    found = []
    for entry in entries:
        name = entry.name
        if name.endswith(".index") and ".tempstate" not in name and entry.is_file():
            found.append((entry.stat().st_mtime_ns, name))
    if not found:
        return None
    return os.path.join(directory, max(found)[1][: -len(".index")])


def run_latest(args: argparse.Namespace) -> int:
    latest = ckpt.latest_checkpoint(args.dir)
    if latest is None and "://" not in args.dir:
        latest = _newest_prefix(args.dir)
        if latest is not None:
            sys.stderr.write(
                f"ckpt: note: no 'checkpoint' file in {args.dir}; newest checkpoint by time\n"
            )
    if latest is None:
        sys.stderr.write(f"ckpt: error: no checkpoint in {args.dir}\n")
        return 1
    sys.stdout.write(latest + "\n")
    return 0
