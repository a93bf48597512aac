"""How a model is found and run: one object, built once by a tool's command line or by the Python API.

`RunOptions` holds the options every entry path shares (which model, which tracker and threshold, and the
runtime: device, backend, autocast, threads, compiling). `check` validates them in one place, in a fraction of a
second and before torch is imported, so a wrong option never waits for a model to load; `resolve` turns
``--model NAME`` or an http(s) checkpoint into local files (downloading once into the cache,
`vis.model_zoo`), or picks the bundled demo model when no model is named.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
from dataclasses import dataclass
from typing import Optional, Sequence

from .errors import CheckpointError, ConfigError, VisError
from .model_zoo import BY_NAME, REPO, check_model_options, is_url, resolve_model
from .runtime import BACKENDS


@dataclass
class RunOptions:
    """The options of `tools/run_video.py` and `vis.VideoPredictor` by the same names (``compiled`` is
    ``--compile``). Without `model`, `config` and `checkpoint` the bundled demo model runs."""

    model: Optional[str] = None
    config: Optional[str] = None
    checkpoint: Optional[str] = None
    cfg_options: Optional[Sequence[str]] = None
    tracker: Optional[str] = None
    score_thr: Optional[float] = None
    device: Optional[str] = None
    backend: str = "pytorch"
    onnx: Optional[str] = None
    amp: bool = False
    threads: Optional[int] = None
    compiled: bool = False
    batch_size: int = 1

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "RunOptions":
        """The fields a tool's parsed arguments have (``--compile`` -> ``compiled``); the rest keep defaults."""
        values = vars(args)
        fields = {f.name: values[f.name] for f in dataclasses.fields(cls) if f.name in values}
        if "compile" in values:
            fields["compiled"] = values["compile"]
        return cls(**fields)

    def check(self, config_alone: bool = False) -> "RunOptions":
        """One-line VisError for the first option that is out of range, contradicts another or names a file that
        does not exist (checkpoint: also a work dir or ``<work dir>/latest.pth``, resolved on loading, or a URL).
        ``config_alone``: a config without a checkpoint is fine (the benchmarks time random weights)."""
        check_model_options(self.model, self.config, self.checkpoint)
        if self.checkpoint is not None and self.config is None or self.config is not None and \
                self.checkpoint is None and not config_alone:
            raise VisError("give both --config and --checkpoint (or neither, for the bundled demo model)")
        if self.config is not None and not os.path.isfile(self.config):
            raise ConfigError(f"config file not found: {self.config}")
        checkpoint = self.checkpoint
        if checkpoint is not None and not is_url(checkpoint) and not os.path.exists(checkpoint) and not (
                os.path.basename(checkpoint) == "latest.pth" and os.path.isdir(os.path.dirname(checkpoint) or ".")):
            raise CheckpointError(f"checkpoint not found: {checkpoint}")
        if self.tracker is not None and self.tracker not in ("OnlineTracker", "QueryTracker"):
            raise ConfigError(f"unknown tracker '{self.tracker}' (choose from OnlineTracker, QueryTracker)")
        if self.score_thr is not None and not 0.0 <= float(self.score_thr) <= 1.0:
            raise VisError(f"--score-thr must be in [0, 1] (detection scores are probabilities), got {self.score_thr}")
        if self.device not in (None, "cpu", "cuda"):
            raise ConfigError(f"unknown device '{self.device}' (choose from cpu, cuda)")
        if self.batch_size < 1:
            raise VisError(f"--batch-size must be >= 1, got {self.batch_size}")
        if self.threads is not None and self.threads < 1:
            raise VisError(f"--threads must be >= 1, got {self.threads}")
        self._check_runtime()
        return self

    def _check_runtime(self) -> None:
        if self.backend not in BACKENDS:
            raise ConfigError(f"unknown --backend '{self.backend}' (choose from {', '.join(BACKENDS)})")
        if self.onnx is not None and self.backend != "onnxruntime":
            raise ConfigError("--onnx is run by --backend onnxruntime; the pytorch backend runs the checkpoint")
        if self.onnx is not None and not os.path.isfile(self.onnx):
            raise CheckpointError(f"ONNX file not found: {self.onnx}")
        if self.compiled and self.backend != "pytorch":
            raise ConfigError(f"--compile compiles the PyTorch network; --backend {self.backend} runs its own")
        if self.backend != "pytorch" and self.device == "cuda":
            raise ConfigError(f"--backend {self.backend} runs on the CPU here: use --device cpu")

    @property
    def is_demo(self) -> bool:
        return self.model is None and self.config is None and self.checkpoint is None

    def resolve(self, quiet: bool = False, required: bool = False) -> "RunOptions":
        """-> a copy naming local files: the model's config and cached checkpoint (downloaded once), a URL's
        cached file, or the bundled demo model when nothing is named (``required``: a one-line error instead,
        for the tools that evaluate a model of the user's)."""
        from .engine.checkpoint import resolve_checkpoint

        if self.is_demo and required:
            raise VisError("give a config and a checkpoint, or --model NAME (tools/download.py --list)")
        if self.is_demo:
            demo = BY_NAME["demo"]
            config, checkpoint = os.path.join(REPO, demo.config), os.path.join(REPO, demo.file_name)
            if not (os.path.isfile(config) and os.path.isfile(checkpoint)):
                raise VisError(f"no model given and the bundled demo model is missing ({demo.config} + "
                               f"{demo.file_name}): pass --model NAME, or --config and --checkpoint")
        else:
            config, checkpoint = resolve_model(self.model, self.config, self.checkpoint, quiet=quiet)
            checkpoint = resolve_checkpoint(checkpoint)  # also <work dir>/latest.pth or the work dir
        return dataclasses.replace(self, model=None, config=config, checkpoint=checkpoint)

