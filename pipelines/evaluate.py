"""Dataset inference and COCO evaluation: the body of ``tools/test.py`` and the trainer's periodic evaluation.

Under torchrun every rank runs the model on a contiguous shard of the dataset, the COCO results are
gathered on rank 0 (in dataset order), and only rank 0 evaluates and writes files.
"""
from __future__ import annotations

import sys
from typing import Any, Callable, Dict, List, Optional, Sequence

import torch

from vis.config import load_config, to_plain
from vis.data.samplers import InferenceSampler
from vis.engine import dist
from vis.engine.checkpoint import resolve_checkpoint
from vis.engine.optim import unwrap_model
from vis.errors import ConfigError, VisError
from vis.options import RunOptions
from vis import inference
from vis.evaluation import IOU_TYPES, evaluate_coco, format_table, instances_to_coco_results, write_coco_results


# -- inference -------------------------------------------------------------------------------------
def _rank_indices(num_items: int) -> List[int]:
    """This rank's contiguous shard of ``range(num_items)`` (so gathering in rank order keeps dataset order)."""
    return list(InferenceSampler(num_items))


def _model_device(model: torch.nn.Module) -> torch.device:
    for tensor in model.parameters():
        return tensor.device
    return torch.device("cpu")


def _label_map(dataset: Any) -> Any:
    """The dataset's label -> category id mapping (a method, list or dict)."""
    mapping = getattr(dataset, "label_to_cat_id", None)
    if mapping is None:
        mapping = getattr(dataset, "cat_ids", None)
    if mapping is None:
        raise ConfigError(
            f"dataset {type(dataset).__name__} has no label_to_cat_id / cat_ids: cannot write COCO results"
        )
    return mapping


def run_inference(
    model: torch.nn.Module,
    dataset: Any,
    batch_size: int = 1,
    device: Optional[Any] = None,
    progress: bool = True,
    num_workers: int = 0,
) -> List[Dict[str, Any]]:
    """Predict every image of ``dataset`` and return its COCO results (category ids, xywh boxes, RLE masks).

    The model runs in eval mode under ``no_grad`` and gets its previous mode back afterwards. Results
    are gathered from all ranks; rank 0 gets the full list in dataset order, other ranks get ``[]``.
    """
    from vis.data import collate

    net = unwrap_model(model)
    device = torch.device(device) if device is not None else _model_device(net)
    label_map = _label_map(dataset)
    indices = _rank_indices(len(dataset))
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, sampler=indices, num_workers=num_workers, collate_fn=collate
    )
    show = progress and dist.get_rank() == 0
    bar = None
    if show:
        from vis.utils.progress import progress_bar

        bar = progress_bar(len(indices), "inference", unit="img")
    results: List[Dict[str, Any]] = []
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            for batch in loader:
                targets = batch["targets"]
                predictions = net.predict(
                    batch["images"].to(device), orig_sizes=[tuple(t["orig_size"]) for t in targets]
                )
                for instances, target in zip(predictions, targets):
                    results.extend(instances_to_coco_results(instances, target["image_id"], label_map))
                if bar is not None:
                    bar.update(len(targets))
    finally:
        net.train(was_training)
        if bar is not None:
            bar.close()
    gathered = dist.all_gather_object(results)
    if dist.get_rank() != 0:
        return []
    return [r for part in gathered for r in part]


# -- configuration helpers -------------------------------------------------------------------------
def _iou_types(cfg: Any) -> Sequence[str]:
    """``evaluation.metrics`` (str or list) -> the COCO IoU types to evaluate; default bbox and segm."""
    evaluation = cfg.get("evaluation") or {}
    metrics = evaluation.get("metrics", IOU_TYPES)
    if isinstance(metrics, str):
        metrics = [metrics]
    metrics = list(metrics)
    for metric in metrics:
        if metric not in IOU_TYPES:
            raise ConfigError(
                f"unknown evaluation metric '{metric}' in evaluation.metrics (known: {', '.join(IOU_TYPES)})"
            )
    return metrics


def _eval_dataset_cfg(dataset_cfg: Any) -> Dict[str, Any]:
    """Evaluation must see every image (no skipping of unannotated ones): default ``test_mode=True``."""
    from vis.data import DATASETS

    ds_cfg = dict(to_plain(dataset_cfg))
    factory = DATASETS.get(ds_cfg.get("type"))
    if factory is not None and "test_mode" not in ds_cfg:
        import inspect

        if "test_mode" in inspect.signature(factory).parameters:
            ds_cfg["test_mode"] = True
    return ds_cfg


def _build_eval_dataset(dataset_cfg: Any):
    from vis.data import build_dataset

    dataset = build_dataset(_eval_dataset_cfg(dataset_cfg))
    if getattr(dataset, "coco", None) is None:
        raise ConfigError(
            f"dataset {type(dataset).__name__} has no COCO ground truth (.coco): cannot run COCO evaluation"
        )
    return dataset


def make_evaluator(cfg: Any, progress: bool = False) -> Optional[Callable[[torch.nn.Module], Dict[str, float]]]:
    """``evaluate(model) -> metrics`` on ``cfg.data.val`` for the trainer, or None without a val set.

    The dataset is built once, here. Every rank must call ``evaluate`` (inference is sharded); rank 0
    gets the metrics, the other ranks ``{}``.
    """
    data = cfg.get("data") or {}
    val_cfg = data.get("val")
    if not val_cfg:
        return None
    dataset = _build_eval_dataset(val_cfg)
    iou_types = _iou_types(cfg)
    num_workers = int(data.get("workers_per_gpu", 0))

    def evaluate(model: torch.nn.Module) -> Dict[str, float]:
        results = run_inference(model, dataset, batch_size=1, progress=progress, num_workers=num_workers)
        if dist.get_rank() != 0:
            return {}
        return evaluate_coco(dataset.coco, results, iou_types, img_ids=getattr(dataset, "img_ids", None))

    return evaluate


SPLITS = ("test", "val")  # data.test: where figures are reported; data.val: where choices are made


def split_dataset_cfg(cfg: Any, split: str, config_path: str) -> Dict[str, Any]:
    """The config's ``data.test`` (``split='test'``) or ``data.val`` (``split='val'``) as a plain dict.

    A config without ``data.test`` (the real-COCO configs: COCO's test-dev has no public annotations, so
    val2017 is where the field reports) is evaluated on ``data.val``, with a note on stderr.
    """
    if split not in SPLITS:
        raise ConfigError(f"unknown split '{split}' (use {' or '.join(SPLITS)})")
    data = cfg.get("data") or {}
    chosen = data.get(split)
    if not chosen and split == "test" and data.get("val"):
        print(f"note: config {config_path} has no data.test: evaluating its data.val", file=sys.stderr)
        chosen = data.get("val")
    if not chosen:
        raise ConfigError(f"config {config_path} has no data.{split} to run on")
    return dict(to_plain(chosen))


# -- tools/test.py ---------------------------------------------------------------------------------
def test_from_config(options: RunOptions, split: str = "test", ann_file: Optional[str] = None,
                     img_dir: Optional[str] = None, format_only: bool = False, out: Optional[str] = None
                     ) -> Dict[str, float]:
    """Load ``options.config`` and ``options.checkpoint``, run a split (``data.test`` by default, ``split='val'``
    for ``data.val``; see `split_dataset_cfg`), evaluate or write results.

    ``ann_file`` / ``img_dir`` replace the split's files (the same transforms). ``format_only``: skip
    evaluation (e.g. a test-dev split without annotations) and write the results to ``out``, which is then
    required. With ``out`` and evaluation both happen. Returns the metrics (``{}`` with ``format_only``
    and on ranks other than 0).
    """
    if format_only and not out:
        raise VisError("--format-only needs --out FILE to write the results to")
    if bool(ann_file) != bool(img_dir):
        raise VisError("--ann and --images go together: give both or neither")
    cfg = load_config(options.config, options.cfg_options)
    dataset_cfg = split_dataset_cfg(cfg, split, options.config)
    if ann_file:
        dataset_cfg.update(ann_file=ann_file, img_dir=img_dir)
    checkpoint = resolve_checkpoint(options.checkpoint)  # also <work dir>/latest.pth or the work dir
    iou_types = _iou_types(cfg)

    joined_here = not dist.is_initialized()
    dist.init_distributed()  # no-op unless launched by torchrun with WORLD_SIZE > 1
    try:
        return _test(cfg, checkpoint, dataset_cfg, iou_types, format_only, out,
                     inference.resolve_device(options.device))
    finally:
        if joined_here:
            dist.cleanup()


def load_model(cfg: Any, checkpoint: str, device: torch.device) -> torch.nn.Module:
    """`vis.inference.load_model`, with its load report on stderr (rank 0): missing / unexpected keys, a
    re-initialised classifier."""
    model, report = inference.load_model(cfg, checkpoint, device)
    if dist.get_rank() == 0:
        print(report.summary(), file=sys.stderr)
    return model


def _test(cfg, checkpoint, dataset_cfg, iou_types, format_only, out, device) -> Dict[str, float]:
    model = load_model(cfg, checkpoint, device)
    dataset = _build_eval_dataset(dataset_cfg)
    num_workers = int((cfg.get("data") or {}).get("workers_per_gpu", 0))
    results = run_inference(model, dataset, batch_size=1, device=device, num_workers=num_workers)
    if dist.get_rank() != 0:
        return {}
    if out:
        write_coco_results(out, results)
        print(f"wrote {len(results)} results to {out}", file=sys.stderr)
    if format_only:
        return {}
    metrics = evaluate_coco(dataset.coco, results, iou_types, img_ids=getattr(dataset, "img_ids", None))
    print(metrics.summary)
    print(format_table(metrics))
    return metrics
