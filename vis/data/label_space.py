"""One way for every dataset to map its category ids to the model's contiguous labels.

``classes`` fixes the label space (the target categories, sorted by id, label = position); ``class_map``
relabels source categories into it ({source id: target id}), dropping sources it does not name — e.g. COCO
images pretraining a YouTube-VIS model. Both accept the names of the built-in tables:
``classes='ytvis2019' | 'ytvis2021' | 'coco_id_slots'`` (the last: label = COCO category id, for a 91-slot head) and ``class_map='coco_to_ytvis2019' | 'coco_to_ytvis2021'``.
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from ..errors import ConfigError

Classes = Union[None, str, Sequence[Mapping[str, Any]]]
ClassMap = Union[None, str, Mapping[Any, Any]]


def _named_classes(name: str) -> List[Dict[str, Any]]:
    if name == "coco_id_slots":  # DETR-family heads: label = COCO category id (91 slots, 0 and 11 ids unused)
        from .coco_classes import coco_id_slot_names

        return [{"id": i, "name": n} for i, n in enumerate(coco_id_slot_names())]
    if name not in ("ytvis2019", "ytvis2021"):
        raise ConfigError(f"unknown class list '{name}' (known: coco_id_slots, ytvis2019, ytvis2021)")
    from .ytvis import ytvis_categories  # the tables live with the YouTube-VIS dataset

    return ytvis_categories(name)


def _named_class_map(name: str) -> Mapping[int, int]:
    from . import ytvis

    tables = {"coco_to_ytvis2019": ytvis.COCO_TO_YTVIS_2019, "coco_to_ytvis2021": ytvis.COCO_TO_YTVIS_2021}
    if name not in tables:
        raise ConfigError(f"unknown class_map '{name}' (known: {', '.join(sorted(tables))})")
    return tables[name]


def build_label_space(categories: Sequence[Mapping[str, Any]], class_map: ClassMap = None, classes: Classes = None,
                      owner: str = "dataset") -> Tuple[List[int], List[str], Dict[int, int]]:
    """-> (cat_ids: label -> target category id, class_names, source category id -> label)."""
    if isinstance(classes, str):
        classes = _named_classes(classes)
    if isinstance(class_map, str):
        class_map = _named_class_map(class_map)
    if class_map is not None and classes is None:
        raise ConfigError(f"{owner}: class_map needs classes (the target categories as [{{id, name}}, ...])")
    target = list(categories) if classes is None else list(classes)
    for cat in target:
        if not isinstance(cat, Mapping) or "id" not in cat or "name" not in cat:
            raise ConfigError(f"{owner}: classes entries must be dicts with 'id' and 'name', got {cat!r}")
    target = sorted(target, key=lambda c: int(c["id"]))
    cat_ids = [int(c["id"]) for c in target]
    if len(set(cat_ids)) != len(cat_ids):
        raise ConfigError(f"{owner}: duplicate category ids in classes / categories")
    to_label = {cat_id: label for label, cat_id in enumerate(cat_ids)}
    if class_map is None:
        # Identity over the target ids (with `classes` alone only those categories are kept).
        source_ids = {int(c["id"]) for c in categories}
        source_to_label = {cid: to_label[cid] for cid in cat_ids if cid in source_ids}
    else:
        source_to_label = {}
        for src, dst in class_map.items():
            if int(dst) not in to_label:
                raise ConfigError(f"{owner}: class_map target id {dst} is not in classes")
            source_to_label[int(src)] = to_label[int(dst)]
    return cat_ids, [str(c["name"]) for c in target], source_to_label


class LabelSpaceMixin:
    """What every dataset exposes about its labels, given ``self.cat_ids`` (label -> dataset category id)."""

    cat_ids: List[int]

    @property
    def num_classes(self) -> int:
        return len(self.cat_ids)

    def label_to_cat_id(self, label: int) -> int:
        """Contiguous label -> dataset category id, for writing results."""
        return self.cat_ids[int(label)]


def _name_key(name: str) -> str:
    return str(name).replace("_", " ").strip().lower()


def model_label_map(model_names: Sequence[str], categories: Sequence[Mapping[str, Any]],
                    owner: str = "annotation file") -> Tuple[Dict[int, int], Optional[str]]:
    """How a model's labels become a dataset's category ids when its results are written for that dataset.

    -> ({model label: category id}, note). Labels missing from the dict have no counterpart: their detections
    are dropped. In order:

    1. the same class names in the same order (the model was trained on this label space), or a model without
       class names and as many classes as categories: label i -> the i-th category by id;
    2. a COCO model (80 COCO names, or the 91 COCO-id slots) on YouTube-VIS 2019 / 2021: the class tables of
       `vis.data.ytvis` (zero-shot; e.g. car -> sedan in 2019, classes with no YouTube-VIS counterpart dropped);
    3. otherwise by name (case and '_' / ' ' ignored): each model class whose name is a category's name.

    No class in common is a one-line ConfigError naming both label spaces (e.g. the 6-class demo model on a
    5-category file of other names).
    """
    from . import ytvis
    from .coco_classes import COCO_CLASSES, coco_category_id

    cats = sorted(categories, key=lambda c: int(c["id"]))
    names = [str(n) for n in model_names]
    cat_names = [str(c["name"]) for c in cats]
    unnamed = names == [f"class {i}" for i in range(len(names))]  # a model that stores no class names
    if [_name_key(n) for n in names] == [_name_key(n) for n in cat_names] or (unnamed and len(names) == len(cats)):
        return {label: int(c["id"]) for label, c in enumerate(cats)}, None
    year = ytvis.detect_year(cats)
    coco_names = {_name_key(n) for n in COCO_CLASSES}
    if year is not None and coco_names <= {_name_key(n) for n in names}:
        table = ytvis.COCO_TO_YTVIS_2019 if year == 2019 else ytvis.COCO_TO_YTVIS_2021
        mapping = {}
        for label, name in enumerate(names):
            coco_id = coco_category_id(name)
            if coco_id is not None and coco_id in table:
                mapping[label] = table[coco_id]
        note = (f"COCO classes -> YouTube-VIS {year} through the class table: {len(mapping)} of the model's "
                f"{len(COCO_CLASSES)} COCO classes have a counterpart, detections of the others are dropped")
        return mapping, note
    by_name = {_name_key(c["name"]): int(c["id"]) for c in cats}
    mapping = {label: by_name[_name_key(n)] for label, n in enumerate(names) if _name_key(n) in by_name}
    if not mapping:
        def shown(items):
            return ", ".join(items[:6]) + (", ..." if len(items) > 6 else "")

        raise ConfigError(
            f"the {owner}'s {len(cats)} categories ({shown(cat_names)}) share no class name with the model's "
            f"{len(names)} classes ({shown(names)}): evaluate the model on data of its own classes")
    note = (f"classes matched by name: {len(mapping)} of the model's {len(names)} classes map to the "
            f"{owner}'s {len(cats)} categories" + ("; detections of the others are dropped" if len(mapping) < len(names) else ""))
    return mapping, note
