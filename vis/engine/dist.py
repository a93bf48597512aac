"""Process-group helpers for torchrun / DDP training, safe to call in a single process.

Every function works without an initialised process group (rank 0 of a world of 1), so the same
training code runs under ``python tools/train.py`` and ``torchrun --nproc_per_node=N tools/train.py``.
"""
from __future__ import annotations

import datetime
import os
import random
from typing import Any, Dict, List, Mapping

import numpy as np
import torch
import torch.distributed as torch_dist


def is_initialized() -> bool:
    return torch_dist.is_available() and torch_dist.is_initialized()


def init_distributed(timeout_minutes: float = 30.0) -> tuple[int, int, int]:
    """Join the process group described by torchrun's env vars; returns (rank, world_size, local_rank).

    Without ``WORLD_SIZE > 1`` in the environment this does nothing (single process). The backend is
    nccl when CUDA is available and gloo otherwise. Calling it twice is harmless.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if world_size > 1 and not is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            # Each process owns one GPU; nccl collectives use the current device.
            torch.cuda.set_device(local_rank)
        torch_dist.init_process_group(
            backend=backend, init_method="env://", timeout=datetime.timedelta(minutes=timeout_minutes)
        )
    return get_rank(), get_world_size(), get_local_rank()


def cleanup() -> None:
    """Leave the process group (end of a torchrun job); no-op in a single process."""
    if is_initialized():
        torch_dist.destroy_process_group()


def get_rank() -> int:
    return torch_dist.get_rank() if is_initialized() else 0


def get_world_size() -> int:
    return torch_dist.get_world_size() if is_initialized() else 1


def get_local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0")) if is_initialized() else 0


def is_main_process() -> bool:
    return get_rank() == 0


def barrier() -> None:
    if get_world_size() > 1:
        torch_dist.barrier()


def _collective_device() -> torch.device:
    """nccl only moves CUDA tensors; gloo only CPU ones."""
    if is_initialized() and torch_dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_gather_object(obj: Any) -> List[Any]:
    """Every rank's ``obj`` (picklable), in rank order; ``[obj]`` in a single process."""
    if get_world_size() == 1:
        return [obj]
    gathered: List[Any] = [None] * get_world_size()
    torch_dist.all_gather_object(gathered, obj)
    return gathered


def reduce_scalars(values: Mapping[str, float], average: bool = True) -> Dict[str, float]:
    """Sum (or mean) a dict of python scalars over ranks, for logging.

    All ranks must pass the same keys; they are reduced in sorted order so dict order does not matter.
    """
    if get_world_size() == 1 or not values:
        return {k: float(v) for k, v in values.items()}
    keys = sorted(values)
    tensor = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=_collective_device())
    torch_dist.all_reduce(tensor)
    if average:
        tensor /= get_world_size()
    return dict(zip(keys, tensor.tolist()))


def all_ranks_true(flag: bool) -> bool:
    """True only if ``flag`` is true on every rank (so all ranks take the same branch and none hangs)."""
    if get_world_size() == 1:
        return bool(flag)
    tensor = torch.tensor([1 if flag else 0], dtype=torch.int32, device=_collective_device())
    torch_dist.all_reduce(tensor, op=torch_dist.ReduceOp.MIN)
    return bool(tensor.item())


def seed_all(seed: int) -> None:
    """Seed python ``random``, numpy's global generator and torch (CPU and every CUDA device)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
