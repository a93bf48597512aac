"""One way for every dataset to map its category ids to the model's contiguous labels.

``classes`` fixes the label space (the target categories, sorted by id, label = position); ``class_map``
relabels source categories into it ({source id: target id}), dropping sources it does not name — e.g. COCO
images pretraining a YouTube-VIS model. Both accept the names of the built-in tables:
``classes='coco' | 'coco_id_slots' | 'ytvis2019' | 'ytvis2021'`` (`named_categories`; 'coco_id_slots': label = COCO
category id, for a 91-slot head) and ``class_map='coco_to_ytvis2019' | 'coco_to_ytvis2021'``.
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from ..errors import ConfigError

Classes = Union[None, str, Sequence[Mapping[str, Any]]]
ClassMap = Union[None, str, Mapping[Any, Any]]


NAMED_CLASSES = ("coco", "coco_id_slots", "ytvis2019", "ytvis2021")


def named_categories(name: str) -> List[Dict[str, Any]]:
    """A built-in table -> ``[{id, name}, ...]``: 'coco' (the 80 COCO 2017 classes at their category ids),
    'coco_id_slots' (91 entries, id = slot, unused slots 'N/A': DETR-family heads), 'ytvis2019', 'ytvis2021'."""
    from ..coco_classes import COCO_CLASSES, COCO_THING_IDS, coco_id_slot_names

    if name == "coco":
        return [{"id": i, "name": n} for i, n in zip(COCO_THING_IDS, COCO_CLASSES)]
    if name == "coco_id_slots":
        return [{"id": i, "name": n} for i, n in enumerate(coco_id_slot_names())]
    if name not in NAMED_CLASSES:
        raise ConfigError(f"unknown class list '{name}' (known: {', '.join(NAMED_CLASSES)})")
    from .ytvis_classes import ytvis_categories

    return ytvis_categories(name)


def config_class_names(names: Any) -> Optional[List[str]]:
    """A config's ``class_names``: a list of strings as is, a table name of `named_categories` (its names in id
    order), None as None; anything else is a one-line ConfigError."""
    if names is None:
        return None
    if isinstance(names, str):
        return [str(c["name"]) for c in named_categories(names)]
    if isinstance(names, Sequence) and all(isinstance(n, str) for n in names):
        return list(names)
    raise ConfigError(f"class_names must be a list of strings or a table name, got {names!r}")


def _named_class_map(name: str) -> Mapping[int, int]:
    from . import ytvis_classes as ytvis

    tables = {"coco_to_ytvis2019": ytvis.COCO_TO_YTVIS_2019, "coco_to_ytvis2021": ytvis.COCO_TO_YTVIS_2021}
    if name not in tables:
        raise ConfigError(f"unknown class_map '{name}' (known: {', '.join(sorted(tables))})")
    return tables[name]


def build_label_space(categories: Sequence[Mapping[str, Any]], class_map: ClassMap = None, classes: Classes = None,
                      owner: str = "dataset") -> Tuple[List[int], List[str], Dict[int, int]]:
    """-> (cat_ids: label -> target category id, class_names, source category id -> label)."""
    if isinstance(classes, str):
        classes = named_categories(classes)
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
       `vis.data.ytvis_classes` (zero-shot; e.g. car -> sedan in 2019, classes with no YouTube-VIS counterpart dropped);
    3. otherwise by name (case and '_' / ' ' ignored): each model class whose name is a category's name.

    No class in common is a one-line ConfigError naming both label spaces (e.g. the 6-class demo model on a
    5-category file of other names).
    """
    from . import ytvis_classes as ytvis
    from ..coco_classes import COCO_CLASSES, coco_category_id

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
