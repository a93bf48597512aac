"""Index samplers for iteration-based training and sharded evaluation.

Training is counted in iterations, not epochs, so that a run can stop at any iteration and resume
with exactly the same batches. `TrainSampler` therefore defines the whole stream as a pure function
of (seed, epoch, rank): epoch ``e`` is a permutation drawn from ``torch.Generator`` seeded with
``seed + e``, padded by cycling it so that every rank gets the same whole number of full batches,
and sharded by taking every ``world_size``-th index (as ``DistributedSampler`` does). Global
iteration ``i`` is batch ``i % iters_per_epoch`` of epoch ``i // iters_per_epoch``; nothing about
the stream depends on what was drawn before, so starting at ``start_iter`` is exact.
"""
from __future__ import annotations

import math
from typing import Iterator, List, Optional, Tuple

import torch
import torch.distributed
from torch.utils.data import Sampler


def _dist_defaults(rank: Optional[int], world_size: Optional[int]) -> Tuple[int, int]:
    # torch.distributed directly, not vis.engine.dist: vis/data must not depend on the engine layer.
    initialised = torch.distributed.is_available() and torch.distributed.is_initialized()
    if rank is None:
        rank = torch.distributed.get_rank() if initialised else 0
    if world_size is None:
        world_size = torch.distributed.get_world_size() if initialised else 1
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} out of range for world size {world_size}")
    return int(rank), int(world_size)


class TrainSampler(Sampler):
    """Endless, epoch-structured, rank-sharded stream of dataset indices.

    Every epoch covers the whole dataset (padded by repeating a few indices so that all ranks get
    ``iters_per_epoch`` full batches of ``batch_size``). Iterating yields single indices forever;
    `batches` yields lists of indices starting at any global iteration.
    """

    def __init__(
        self,
        dataset_len: int,
        shuffle: bool = True,
        seed: int = 0,
        rank: Optional[int] = None,
        world_size: Optional[int] = None,
        batch_size: int = 1,
    ):
        if dataset_len <= 0:
            raise ValueError("TrainSampler needs a non-empty dataset")
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.dataset_len = int(dataset_len)
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.rank, self.world_size = _dist_defaults(rank, world_size)
        self.batch_size = int(batch_size)
        global_batch = self.batch_size * self.world_size
        self.iters_per_epoch = math.ceil(self.dataset_len / global_batch)
        self._padded_len = self.iters_per_epoch * global_batch

    def epoch_indices(self, epoch: int) -> List[int]:
        """This rank's indices for ``epoch``: ``iters_per_epoch * batch_size`` of them."""
        if self.shuffle:
            generator = torch.Generator()
            generator.manual_seed(self.seed + int(epoch))
            order = torch.randperm(self.dataset_len, generator=generator)
        else:
            order = torch.arange(self.dataset_len)
        if self._padded_len > self.dataset_len:
            # Cycle the permutation (possibly several times for tiny datasets) up to the padded length.
            repeats = math.ceil(self._padded_len / self.dataset_len)
            order = order.repeat(repeats)[: self._padded_len]
        return order[self.rank :: self.world_size].tolist()

    def epoch_of(self, iteration: int) -> int:
        """The epoch that global iteration ``iteration`` (0-based) belongs to."""
        return int(iteration) // self.iters_per_epoch

    def batches(self, start_iter: int = 0) -> Iterator[List[int]]:
        """Endless batches of this rank's indices, beginning with global iteration ``start_iter``."""
        for epoch, batch in self.epoch_batches(start_iter):
            yield batch

    def epoch_batches(self, start_iter: int = 0) -> Iterator[Tuple[int, List[int]]]:
        """Like `batches` but yields ``(epoch, batch)`` so the caller can set the dataset's epoch."""
        epoch = self.epoch_of(start_iter)
        offset = int(start_iter) - epoch * self.iters_per_epoch
        while True:
            indices = self.epoch_indices(epoch)
            for k in range(offset, self.iters_per_epoch):
                yield epoch, indices[k * self.batch_size : (k + 1) * self.batch_size]
            epoch += 1
            offset = 0

    def __iter__(self) -> Iterator[int]:
        for batch in self.batches(0):
            yield from batch


class TrainBatchSampler:
    """``batch_sampler`` for a DataLoader: iterations ``start_iter .. max_iters-1`` of a `TrainSampler`.

    Each batch element is an ``(epoch, index)`` pair, so the dataset (wrapped by the trainer) can set
    its epoch inside DataLoader worker processes, where the main process cannot reach it.
    """

    def __init__(self, sampler: TrainSampler, start_iter: int = 0, max_iters: Optional[int] = None):
        self.sampler = sampler
        self.start_iter = int(start_iter)
        self.max_iters = None if max_iters is None else int(max_iters)

    def __iter__(self) -> Iterator[List[Tuple[int, int]]]:
        iteration = self.start_iter
        for epoch, batch in self.sampler.epoch_batches(self.start_iter):
            if self.max_iters is not None and iteration >= self.max_iters:
                return
            yield [(epoch, index) for index in batch]
            iteration += 1

    def __len__(self) -> int:
        if self.max_iters is None:
            raise TypeError("an endless TrainBatchSampler has no length")
        return max(0, self.max_iters - self.start_iter)


class InferenceSampler(Sampler):
    """Contiguous, non-overlapping shards of ``range(n)`` for distributed evaluation.

    Unlike training there is no padding, so no image is evaluated twice; the first ``n % world_size``
    ranks get one extra item. Gathering the per-rank results in rank order restores dataset order.
    """

    def __init__(self, n: int, rank: Optional[int] = None, world_size: Optional[int] = None):
        self.n = int(n)
        self.rank, self.world_size = _dist_defaults(rank, world_size)
        base, extra = divmod(self.n, self.world_size)
        sizes = [base + (1 if r < extra else 0) for r in range(self.world_size)]
        self.begin = sum(sizes[: self.rank])
        self.end = self.begin + sizes[self.rank]

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.begin, self.end))

    def __len__(self) -> int:
        return self.end - self.begin
