"""The thin layer over ``torch.distributed`` that distributed saves and restores use.

Only a handful of collectives, all on tensors (never pickled objects: ``all_gather_object``
pickles, and ckpt does not unpickle): a broadcast of one integer, an all-reduce of flags (which
doubles as a barrier), and an all-gather of byte strings (lengths first, then padded bytes).
torch is imported when a function is first called, so ``import ckpt.distributed`` stays light.
Every function must be called by every process of ``group``, in the same order, on one thread
per group: the training group's collectives run on the caller's thread only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ckpt.errors import CheckpointError

if TYPE_CHECKING:
    import torch

__all__ = [
    "all_gather_bytes",
    "any_flags",
    "broadcast_int",
    "new_gloo_group",
    "rank",
    "world_size",
]


def _dist() -> Any:
    import torch.distributed as dist

    if not dist.is_available() or not dist.is_initialized():
        raise CheckpointError(
            "ckpt.distributed needs an initialised torch.distributed process group: call "
            "torch.distributed.init_process_group (torchrun sets up the environment for it)"
        )
    return dist


def rank(group: Any = None) -> int:
    """This process's rank in ``group`` (the default group if None)."""
    return int(_dist().get_rank(group))


def world_size(group: Any = None) -> int:
    return int(_dist().get_world_size(group))


def _device(group: Any) -> torch.device:
    """Where collective tensors live: the current GPU for NCCL, else the CPU."""
    import torch

    dist = _dist()
    if dist.get_backend(group) == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _global(group: Any, group_rank: int) -> int:
    return group_rank if group is None else int(_dist().get_global_rank(group, group_rank))


def broadcast_int(value: int, group: Any = None) -> int:
    """Rank 0's ``value`` on every rank."""
    import torch

    tensor = torch.tensor([value], dtype=torch.int64, device=_device(group))
    _dist().broadcast(tensor, src=_global(group, 0), group=group)
    return int(tensor.item())


def any_flags(flags: list[bool], group: Any = None) -> list[bool]:
    """For each flag, whether any rank set it (an all-reduce; also a barrier)."""
    import torch

    tensor = torch.tensor([int(f) for f in flags], dtype=torch.int32, device=_device(group))
    _dist().all_reduce(tensor, op=_dist().ReduceOp.MAX, group=group)
    return [bool(v) for v in tensor.tolist()]


def all_gather_bytes(data: bytes, group: Any = None) -> list[bytes]:
    """Every rank's ``data``, in rank order."""
    import torch

    dist = _dist()
    device = _device(group)
    size = world_size(group)
    length = torch.tensor([len(data)], dtype=torch.int64, device=device)
    lengths = [torch.empty_like(length) for _ in range(size)]
    dist.all_gather(lengths, length, group=group)
    sizes = [int(t.item()) for t in lengths]
    longest = max(sizes) or 1
    mine = torch.zeros(longest, dtype=torch.uint8)
    if data:
        mine[: len(data)] = torch.frombuffer(bytearray(data), dtype=torch.uint8)
    mine = mine.to(device)
    gathered = [torch.empty_like(mine) for _ in range(size)]
    dist.all_gather(gathered, mine, group=group)
    return [bytes(t[:n].cpu().numpy().tobytes()) for t, n in zip(gathered, sizes, strict=True)]


def new_gloo_group(group: Any = None) -> Any:
    """A gloo group of the same ranks as ``group``, for a background thread's collectives.

    Collective: every rank of the default group must call it (``new_group``'s rule).
    """
    dist = _dist()
    ranks = None if group is None else sorted(dist.get_process_group_ranks(group))
    return dist.new_group(ranks=ranks, backend="gloo")
