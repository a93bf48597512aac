"""Training logs: console + ``<work_dir>/<timestamp>.log``, tensorboard scalars, ``metrics.jsonl``.

Only the main process writes; other ranks log warnings and errors to the console. Everything in
``vis`` logs through ``logging.getLogger('vis.<module>')``, so the handlers installed here on the
``vis`` logger collect messages from the data, model and checkpoint code too.

``metrics.jsonl`` has one JSON object per line, e.g.
``{"event": "train", "iter": 120, "epoch": 0, "lr": 1e-4, "loss": 2.31, "s0.loss_cls": 0.5, ..., "time": 0.42}``
and ``{"event": "eval", "iter": 3000, "bbox_mAP": 0.42, ...}``: easy to plot learning curves from.
"""
from __future__ import annotations

import datetime
import json
import logging
import math
import os
import sys
import time
from typing import Any, Dict, List, Mapping, Optional

_FORMAT = "%(asctime)s %(levelname).1s %(name)s: %(message)s"
_DATEFMT = "%m-%d %H:%M:%S"
_HANDLER_TAG = "_vis_train_logger"


class _TqdmHandler(logging.StreamHandler):
    """Console handler that prints through ``tqdm.write`` so log lines do not break the progress bar."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from tqdm import tqdm

            tqdm.write(self.format(record), file=sys.stdout)
        except Exception:  # pragma: no cover - logging must never raise
            self.handleError(record)


def setup_logging(
    work_dir: Optional[str] = None, main_process: bool = True, use_tqdm: bool = False
) -> Optional[str]:
    """Install console (and, on the main process, file) handlers on the ``vis`` logger.

    Replaces handlers installed by an earlier call (several trainers in one process, tests).
    Returns the path of the log file, if any.
    """
    logger = logging.getLogger("vis")
    for handler in list(logger.handlers):
        if getattr(handler, _HANDLER_TAG, False):
            logger.removeHandler(handler)
            handler.close()
    logger.setLevel(logging.INFO if main_process else logging.WARNING)
    logger.propagate = False
    formatter = logging.Formatter(_FORMAT, datefmt=_DATEFMT)
    console: logging.Handler = _TqdmHandler() if use_tqdm else logging.StreamHandler(sys.stdout)
    console.setFormatter(formatter)
    setattr(console, _HANDLER_TAG, True)
    logger.addHandler(console)
    log_file = None
    if main_process and work_dir is not None:
        log_file = os.path.join(work_dir, time.strftime("%Y%m%d_%H%M%S") + ".log")
        file_handler = logging.FileHandler(log_file)
        file_handler.setFormatter(formatter)
        setattr(file_handler, _HANDLER_TAG, True)
        logger.addHandler(file_handler)
    return log_file


def format_eta(seconds: float) -> str:
    return str(datetime.timedelta(seconds=max(0, int(round(seconds)))))


def _fmt(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    return f"{value:.4g}"


class TrainLogger:
    """Writes the periodic training line, evaluation results, tensorboard scalars and metrics.jsonl.

    Construct on every rank; with ``enabled=False`` (non-main ranks) all outputs are skipped.
    Call `setup_logging` first (the trainer does): this class only writes through the ``vis`` logger.
    """

    def __init__(
        self,
        work_dir: str,
        max_iters: int,
        enabled: bool = True,
        tensorboard: bool = True,
        progress_bar: Optional[bool] = None,
        start_iter: int = 0,
    ):
        self.work_dir = work_dir
        self.max_iters = int(max_iters)
        self.enabled = bool(enabled)
        if progress_bar is None:
            progress_bar = sys.stderr.isatty()
        self.use_bar = bool(progress_bar) and self.enabled
        self.logger = logging.getLogger("vis.train")
        self._writer = None
        self._jsonl = None
        self._bar = None
        if not self.enabled:
            return
        self._jsonl = open(os.path.join(work_dir, "metrics.jsonl"), "a", buffering=1)
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._writer = SummaryWriter(os.path.join(work_dir, "tf_logs"))
            except Exception as exc:  # tensorboard missing or broken: logs still go to the other sinks
                self.logger.warning(f"tensorboard logging disabled: {exc}")
        if self.use_bar:
            from ..utils.progress import progress_bar

            self._bar = progress_bar(self.max_iters, "train", initial=start_iter)

    def info(self, message: str) -> None:
        self.logger.info(message)

    def update_bar(self, iteration: int, loss: Optional[float] = None) -> None:
        if self._bar is not None:
            self._bar.n = iteration
            if loss is not None:
                self._bar.set_postfix(loss=f"{loss:.3f}", refresh=False)
            self._bar.refresh()

    def log_train(
        self,
        iteration: int,
        epoch: int,
        lr: float,
        losses: Mapping[str, float],
        total_loss: float,
        time_per_iter: float,
        data_time: float,
        extra: Optional[Mapping[str, float]] = None,
    ) -> None:
        """One console line, tensorboard scalars under ``train/`` and one metrics.jsonl record."""
        if not self.enabled:
            return
        eta = time_per_iter * (self.max_iters - iteration)
        terms = "  ".join(f"{k} {_fmt(v)}" for k, v in losses.items())
        extras = "".join(f"  {k} {_fmt(v)}" for k, v in (extra or {}).items())
        self.logger.info(
            f"iter {iteration}/{self.max_iters}  epoch {epoch}  lr {lr:.1e}  loss {_fmt(total_loss)} ({terms}){extras}"
            f"  {time_per_iter:.3f} s/it  data {data_time:.3f} s  eta {format_eta(eta)}"
        )
        scalars: Dict[str, float] = {"loss": total_loss, "lr": lr, **losses, **(extra or {})}
        scalars.update({"time": time_per_iter, "data_time": data_time})
        if self._writer is not None:
            for key, value in scalars.items():
                self._writer.add_scalar(f"train/{key}", value, iteration)
            self._writer.flush()
        self._write_json({"event": "train", "iter": iteration, "epoch": epoch, **scalars})

    def log_eval(self, iteration: int, metrics: Mapping[str, Any]) -> None:
        """Numeric metrics to tensorboard under ``val/``; all of them (JSON-able) to metrics.jsonl."""
        if not self.enabled:
            return
        numeric = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        shown = "  ".join(f"{k} {_fmt(v)}" for k, v in numeric.items())
        self.logger.info(f"eval at iter {iteration}: {shown or 'no numeric metrics'}")
        if self._writer is not None:
            for key, value in numeric.items():
                self._writer.add_scalar(f"val/{key}", value, iteration)
            self._writer.flush()
        self._write_json({"event": "eval", "iter": iteration, **_jsonable(metrics)})

    def log_event(self, event: str, iteration: int, **fields: Any) -> None:
        """A marker line in metrics.jsonl, e.g. ``resume``: records after it replace later-iteration ones before it."""
        if self.enabled:
            self._write_json({"event": event, "iter": iteration, **_jsonable(fields)})

    def _write_json(self, record: Dict[str, Any]) -> None:
        if self._jsonl is not None:
            record = {"time_stamp": round(time.time(), 3), **record}
            self._jsonl.write(json.dumps(record, allow_nan=True) + "\n")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._jsonl is not None:
            self._jsonl.close()
            self._jsonl = None
        # Stop writing the run's .log file; console logging stays for whatever runs next.
        vis_logger = logging.getLogger("vis")
        for handler in list(vis_logger.handlers):
            if getattr(handler, _HANDLER_TAG, False) and isinstance(handler, logging.FileHandler):
                vis_logger.removeHandler(handler)
                handler.close()


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    if hasattr(obj, "item") and getattr(obj, "ndim", 1) == 0:
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return str(obj)


def read_metrics(work_dir: str) -> List[Dict[str, Any]]:
    """All events of ``<work_dir>/metrics.jsonl`` (train, eval, resume), in order."""
    from ..errors import DataError

    path = os.path.join(work_dir, "metrics.jsonl")
    if not os.path.isfile(path):
        raise DataError(f"no metrics.jsonl in {work_dir} (is it a training work dir?)")
    events = []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            if line.strip():
                try:
                    events.append(json.loads(line))
                except json.JSONDecodeError:
                    raise DataError(f"malformed line {number} in {path}") from None
    return events


def learning_curve_table(events: List[Dict[str, Any]], keys=("bbox_mAP", "segm_mAP", "segm_mAP_50", "segm_mAP_75")) -> str:
    """Markdown table: one row per eval event with the mean training loss since the previous one."""
    rows = ["| iteration | train loss | " + " | ".join(keys) + " |", "|---" * (2 + len(keys)) + "|"]
    losses: List[float] = []
    for event in events:
        if event.get("event") == "train" and "loss" in event:
            losses.append(float(event["loss"]))
        elif event.get("event") == "eval":
            loss = f"{sum(losses) / len(losses):.2f}" if losses else "-"
            values = [f"{event[k]:.3f}" if isinstance(event.get(k), (int, float)) else "-" for k in keys]
            rows.append(f"| {event['iter']} | {loss} | " + " | ".join(values) + " |")
            losses = []
    return "\n".join(rows)
