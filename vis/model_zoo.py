"""The official releases by name: config, where the file is published, how to check it, what it scores.

``--model queryinst_r50_fpn_1x_coco`` (every tool that runs a model) and ``tools/download.py NAME`` go through
`resolve_model`: the entry's config, and its checkpoint fetched once into the cache (`vis.io.download.fetch`).

- **Cache**: ``$VIS_HOME/checkpoints/<file key>`` (``VIS_HOME`` defaults to ``~/.cache/vis``). The file key is the
  official file name, so a file a user already has can be dropped in by hand; where two releases share a name
  (both ISTR files are ``model_final.pth``) it is ``<model name>/<official name>``.
- **Mirror**: with ``VIS_MIRROR=<base URL>`` a file is fetched from ``<base>/<file key>`` instead of its official
  URL (air-gapped clusters, regional mirrors; the tests point it at a server on 127.0.0.1).
- **Checks**: mmdetection's file names carry the first 8 hex digits of the file's sha256 (``mim`` checks them
  too); the Google Drive releases carry none, so they are checked by loading (the checkpoint must fit the config).
- ``--checkpoint https://...`` (any URL) is cached under ``$VIS_HOME/checkpoints/urls/<host>/<path>``.

The README's model zoo table is generated from `ZOO` (`zoo_table`); a test checks that they agree.
"""
from __future__ import annotations

import difflib
import os
import urllib.parse
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

from .errors import ConfigError, VisError
from .io.download import DownloadError, fetch, sha256_prefix_of_name

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MMDET = "https://download.openmmlab.com/mmdetection/v2.0/queryinst"
ISTR_V1_FOLDER = "https://drive.google.com/drive/folders/1LEq1I3RlH5Ufz8agNv9iDgxP85k2Fh2X"


@dataclass(frozen=True)
class ZooModel:
    """One release. `url` is the file, or (ISTR) the Google Drive folder that holds it: then the file is the one
    named `file_name` under a folder whose path contains `folder_tag`."""

    name: str
    title: str
    config: str  # relative to the repository
    file_name: str  # the official name (SOLQ's: the name its scripts use)
    url: Optional[str]  # None: bundled with the repository (`file_name` is then a repository path)
    published: str
    box_ap: Optional[float] = None
    mask_ap: Optional[float] = None
    ap_split: str = "val"
    folder_tag: Optional[str] = None  # a Google Drive folder `url`: the subfolder holding the file contains this

    @property
    def sha256_prefix(self) -> Optional[str]:
        return sha256_prefix_of_name(self.file_name)


def _mmdet(name: str, title: str, config: str, folder: str, file_name: str, box_ap: float, mask_ap: float):
    return ZooModel(name, title, f"configs/queryinst/{config}.py", file_name, f"{MMDET}/{folder}/{file_name}",
                    "mmdetection model zoo (configs/queryinst/metafile.yml)", box_ap, mask_ap, "val")


ZOO: Tuple[ZooModel, ...] = (
    _mmdet("queryinst_r50_fpn_1x_coco", "QueryInst R-50 1x", "queryinst_r50_fpn_1x_coco",
           "queryinst_r50_fpn_1x_coco", "queryinst_r50_fpn_1x_coco_20210907_084916-5a8f1998.pth", 42.0, 37.5),
    _mmdet("queryinst_r50_fpn_ms-480-800-3x_coco", "QueryInst R-50 ms 3x", "queryinst_r50_fpn_ms-480-800-3x_coco",
           "queryinst_r50_fpn_mstrain_480-800_3x_coco",
           "queryinst_r50_fpn_mstrain_480-800_3x_coco_20210901_103643-7837af86.pth", 44.8, 39.8),
    _mmdet("queryinst_r50_fpn_300-proposals_crop-ms-480-800-3x_coco", "QueryInst R-50 300 proposals, crop, ms 3x",
           "queryinst_r50_fpn_300-proposals_crop-ms-480-800-3x_coco",
           "queryinst_r50_fpn_300_proposals_crop_mstrain_480-800_3x_coco",
           "queryinst_r50_fpn_300_proposals_crop_mstrain_480-800_3x_coco_20210904_101802-85cffbd8.pth", 47.5, 41.7),
    _mmdet("queryinst_r101_fpn_ms-480-800-3x_coco", "QueryInst R-101 ms 3x", "queryinst_r101_fpn_ms-480-800-3x_coco",
           "queryinst_r101_fpn_mstrain_480-800_3x_coco",
           "queryinst_r101_fpn_mstrain_480-800_3x_coco_20210904_104048-91f9995b.pth", 46.4, 41.0),
    _mmdet("queryinst_r101_fpn_300-proposals_crop-ms-480-800-3x_coco",
           "QueryInst R-101 300 proposals, crop, ms 3x", "queryinst_r101_fpn_300-proposals_crop-ms-480-800-3x_coco",
           "queryinst_r101_fpn_300_proposals_crop_mstrain_480-800_3x_coco",
           "queryinst_r101_fpn_300_proposals_crop_mstrain_480-800_3x_coco_20210904_153621-76cce59f.pth", 49.0, 42.9),
    ZooModel("istr_r50_3x_coco", "ISTR-R50-3x (v1)", "configs/istr/istr_r50_fpn_3x_coco.py", "model_final.pth",
             ISTR_V1_FOLDER, "hujiecpp/ISTR README (v1, commit 02279fc), Google Drive folder", 46.8, 38.6,
             "test-dev", folder_tag="R50"),
    ZooModel("istr_r101_3x_coco", "ISTR-R101-3x (v1)", "configs/istr/istr_r101_fpn_3x_coco.py", "model_final.pth",
             ISTR_V1_FOLDER, "hujiecpp/ISTR README (v1, commit 02279fc), Google Drive folder", 48.1, 39.9,
             "test-dev", folder_tag="R101"),
    ZooModel("solq_r50_coco", "SOLQ R-50", "configs/solq/solq_r50_91slots_coco.py", "solq_r50_final.pth",
             "https://drive.google.com/file/d/1D43QroYz2CH3rHDVE54tlByq6dSbmXJK/view",
             "megvii-research/SOLQ README, Google Drive", 47.8, 39.7, "test-dev"),
    ZooModel("solq_r101_coco", "SOLQ R-101", "configs/solq/solq_r101_91slots_coco.py", "solq_r101_final.pth",
             "https://drive.google.com/file/d/1hdHnNDeLP932ZueKEvm5o8T1MwwhP_wm/view",
             "megvii-research/SOLQ README, Google Drive", 48.7, 40.9, "test-dev"),
    ZooModel("demo", "demo: tiny QueryInst-VIS, synthetic shapes", "models/demo/queryinst_vis_tiny_shapes.py",
             "models/demo/queryinst_vis_tiny_shapes.pth", None, "bundled (models/demo/README.md)"),
)
BY_NAME: Dict[str, ZooModel] = {model.name: model for model in ZOO}


def vis_home() -> str:
    return os.path.expanduser(os.environ.get("VIS_HOME") or os.path.join("~", ".cache", "vis"))


def get_model(name: str) -> ZooModel:
    """The entry of `name`; an unknown name is a one-line error with the nearest names."""
    if name in BY_NAME:
        return BY_NAME[name]
    nearest = difflib.get_close_matches(name, list(BY_NAME), n=3, cutoff=0.4)
    hint = f"did you mean {', '.join(nearest)}?" if nearest else "tools/download.py --list shows them"
    raise ConfigError(f"unknown model '{name}': {hint}")


def file_key(model: ZooModel) -> str:
    """The file's path in the cache and on a mirror: its official name, prefixed by the model name where another
    release shares that name."""
    shared = sum(other.file_name == model.file_name for other in ZOO if other.url is not None) > 1
    return f"{model.name}/{model.file_name}" if shared else model.file_name


def cache_path(model: ZooModel) -> str:
    return os.path.join(vis_home(), "checkpoints", *file_key(model).split("/"))


def url_cache_path(url: str) -> str:
    """Where ``--checkpoint URL`` is cached: ``$VIS_HOME/checkpoints/urls/<host>/<path>`` (the file keeps its name,
    two hosts or folders never collide)."""
    parts = urllib.parse.urlsplit(url)
    path = [p for p in urllib.parse.unquote(parts.path).split("/") if p not in ("", ".", "..")]
    if not path:
        raise ConfigError(f"--checkpoint URL names no file: {url}")
    return os.path.join(vis_home(), "checkpoints", "urls", parts.netloc.replace(":", "_"), *path)


def is_url(text: Optional[str]) -> bool:
    return bool(text) and urllib.parse.urlsplit(text).scheme in ("http", "https")


def source_url(model: ZooModel) -> str:
    """Where the file is fetched from: the mirror when ``VIS_MIRROR`` is set, else the official URL (for a Drive
    folder, the URL of the file inside it)."""
    mirror = os.environ.get("VIS_MIRROR")
    if mirror:
        return f"{mirror.rstrip('/')}/{file_key(model)}"
    if model.folder_tag is None:
        return model.url
    return _drive_folder_file(model)


def _drive_folder_file(model: ZooModel) -> str:
    """The URL of the release's file inside the Google Drive folder `model.url` (gdown lists the folder)."""
    import gdown

    try:
        files = gdown.download_folder(model.url, skip_download=True, quiet=True, timeout=10) or []
    except Exception as exc:  # gdown and requests raise many kinds here; each is a network or Drive problem
        raise DownloadError(f"cannot list the Google Drive folder {model.url}: {' '.join(str(exc).split())[:160]}; "
                            f"or put the file there by hand: {cache_path(model)}") from None
    paths = [entry.path.replace(os.sep, "/") for entry in files]
    found = [entry for entry, path in zip(files, paths)
             if path.rsplit("/", 1)[-1] == model.file_name and model.folder_tag in path]
    if len(found) != 1:
        raise DownloadError(f"{'no' if not found else 'more than one'} {model.file_name} under a {model.folder_tag} "
                            f"folder in {model.url} (it holds {', '.join(paths) or 'nothing'}); put the file there "
                            f"by hand: {cache_path(model)}")
    return f"https://drive.google.com/uc?id={found[0].id}"


def fetch_model(model: ZooModel, quiet: bool = False) -> str:
    """-> the local checkpoint of `model`, downloaded into the cache first if it is not there."""
    if model.url is None:
        return os.path.join(REPO, model.file_name)
    dest = cache_path(model)
    if os.path.isfile(dest):
        return dest
    return fetch(source_url(model), dest, model.sha256_prefix, quiet=quiet)


def fetch_url(url: str, quiet: bool = False) -> str:
    """``--checkpoint URL`` -> the cached file (its name's sha256 prefix checked where it carries one)."""
    dest = url_cache_path(url)
    return fetch(url, dest, sha256_prefix_of_name(os.path.basename(dest)), quiet=quiet)


def check_model_options(model: Optional[str], config: Optional[str], checkpoint: Optional[str]) -> None:
    """The checks of ``--model`` that need no download: a known name, and not together with ``--config`` or
    ``--checkpoint`` (which it sets)."""
    if model is None:
        return
    if config is not None or checkpoint is not None:
        raise VisError("--model sets the config and the checkpoint: give it alone, or --config and --checkpoint")
    get_model(model)


def resolve_weights(source: str, quiet: bool = False) -> str:
    """``--load-from``: a local file as it is, an http(s) URL or a model name fetched into the cache."""
    if is_url(source):
        return fetch_url(source, quiet=quiet)
    if source in BY_NAME and not os.path.exists(source):
        return fetch_model(BY_NAME[source], quiet=quiet)
    return source


def resolve_model(model: Optional[str], config: Optional[str], checkpoint: Optional[str],
                  quiet: bool = False) -> Tuple[Optional[str], Optional[str]]:
    """``--model`` / ``--config`` / ``--checkpoint`` -> (config path, local checkpoint path): a name sets both, a
    URL checkpoint is fetched into the cache."""
    check_model_options(model, config, checkpoint)
    if model is not None:
        entry = get_model(model)
        return os.path.join(REPO, entry.config), fetch_model(entry, quiet=quiet)
    if is_url(checkpoint):
        return config, fetch_url(checkpoint, quiet=quiet)
    return config, checkpoint


def zoo_table() -> str:
    """The README's model zoo table (markdown), from `ZOO`."""
    rows = ["| name (`--model`) | release | config | official file | published at | reported box / mask AP (COCO) |",
            "|---|---|---|---|---|---|"]
    for model in ZOO:
        if model.url is None:
            continue
        ap = f"{model.box_ap} / {model.mask_ap} ({model.ap_split})"
        rows.append(f"| `{model.name}` | {model.title} | `{model.config}` | `{model.file_name}` | {model.published} "
                    f"| {ap} |")
    return "\n".join(rows)


def format_zoo_list() -> str:
    """`tools/download.py --list`: one line per model with its reported AP and where it is (or would be) cached."""
    lines = []
    for model in ZOO:
        ap = f"{model.box_ap} / {model.mask_ap} box / mask AP ({model.ap_split})" if model.box_ap else "bundled"
        where = os.path.join(REPO, model.file_name) if model.url is None else cache_path(model)
        state = "cached" if os.path.isfile(where) else "not cached"
        lines.append(f"{model.name:58s} {model.title:44s} {ap:38s} {state}: {where}")
    return "\n".join(lines)
