"""One way for every dataset to map its category ids to the model's contiguous labels.

``classes`` fixes the label space (the target categories, sorted by id, label = position); ``class_map``
relabels source categories into it ({source id: target id}), dropping sources it does not name — e.g. COCO
images pretraining a YouTube-VIS model. Both accept the names of the built-in tables:
``classes='coco' | 'coco_id_slots' | 'ytvis2019' | 'ytvis2021' | 'ytvis2022' | 'ovis'`` (`named_categories`;
'coco_id_slots': label = COCO category id, for a 91-slot head) and ``class_map='coco_to_<video table>'``.
A named table is also a promise about the file: `build_label_space` checks the file's categories against it.
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from ..errors import ConfigError, DataError
from .ytvis_classes import COCO_CLASS_MAPS, DATASET_TITLES, class_name_key, detect_dataset, ytvis_categories

Classes = Union[None, str, Sequence[Mapping[str, Any]]]
ClassMap = Union[None, str, Mapping[Any, Any]]


NAMED_CLASSES = ("coco", "coco_id_slots", "ytvis2019", "ytvis2021", "ytvis2022", "ovis")
NAMED_CLASS_MAPS = tuple(f"coco_to_{name}" for name in COCO_CLASS_MAPS)


def named_categories(name: str) -> List[Dict[str, Any]]:
    """A built-in table -> ``[{id, name}, ...]``: 'coco' (the 80 COCO 2017 classes at their category ids),
    'coco_id_slots' (91 entries, id = slot, unused slots 'N/A': DETR-family heads), 'ytvis2019', 'ytvis2021',
    'ytvis2022' (2021's classes) and 'ovis'."""
    from ..coco_classes import COCO_CLASSES, COCO_THING_IDS, coco_id_slot_names

    if name == "coco":
        return [{"id": i, "name": n} for i, n in zip(COCO_THING_IDS, COCO_CLASSES)]
    if name == "coco_id_slots":
        return [{"id": i, "name": n} for i, n in enumerate(coco_id_slot_names())]
    if name not in NAMED_CLASSES:
        raise ConfigError(f"unknown class list '{name}' (known: {', '.join(NAMED_CLASSES)})")
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
    if name not in NAMED_CLASS_MAPS:
        raise ConfigError(f"unknown class_map '{name}' (known: {', '.join(NAMED_CLASS_MAPS)})")
    return COCO_CLASS_MAPS[name[len("coco_to_"):]]


def build_label_space(categories: Sequence[Mapping[str, Any]], class_map: ClassMap = None, classes: Classes = None,
                      owner: str = "dataset", ann_file: Optional[str] = None
                      ) -> Tuple[List[int], List[str], Dict[int, int]]:
    """-> (cat_ids: label -> target category id, class_names, source category id -> label).

    Named tables are checked against ``categories`` (the file's; ``ann_file`` names it in messages) by
    `check_named_tables`; a dataset given neither a named ``classes`` nor a named ``class_map`` is not checked.
    """
    check_named_tables(categories, class_map, classes, owner, ann_file)
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


# -- the file against the tables a config names ------------------------------------------------------
def recognise_categories(categories: Sequence[Mapping[str, Any]]) -> Optional[str]:
    """How messages name the dataset a file's categories come from: 'YouTube-VIS 2019', 'OVIS', ... (all of a
    video table), 'COCO' (each category at its COCO id and name, any subset), or None."""
    video = detect_dataset(categories)
    if video is not None:
        return DATASET_TITLES[video]
    coco = {int(c["id"]): class_name_key(c["name"]) for c in named_categories("coco")}
    if categories and all(coco.get(int(c["id"])) == class_name_key(c["name"]) for c in categories):
        return "COCO"
    return None


def _file_words(ann_file: Optional[str]) -> str:
    return f"annotation file {ann_file}" if ann_file else "the annotation file"


def _id_name_list(pairs: Sequence[Tuple[int, str]], limit: int = 4) -> str:
    shown = ", ".join(f"{i} '{n}'" for i, n in pairs[:limit])
    return shown + (f" and {len(pairs) - limit} more" if len(pairs) > limit else "")


def check_named_tables(categories: Sequence[Mapping[str, Any]], class_map: ClassMap, classes: Classes,
                       owner: str = "dataset", ann_file: Optional[str] = None) -> None:
    """A table named in the config must describe the file, else the file is read through the wrong table.

    Without a ``class_map``, ``classes='ytvis2019'`` takes the file's category ids as 2019's: a 2021 file would
    train and write every track under another class without a word. With ``class_map='coco_to_...'``, the
    file's ids are taken as COCO's. So, names compared by `class_name_key`:

    - ``classes`` named, no ``class_map``: a file category at an id of the table must have the table's name there
      (else a ConfigError that names the file's dataset when it is recognised), and the file must have no id the
      table lacks (DataError: the file is not that dataset's);
    - ``class_map`` named: the file's categories at the map's source ids must have their COCO names (ConfigError);
      and when ``classes`` is named too, it must be the map's target table (ConfigError).

    A custom ``classes`` list or ``class_map`` dict, or neither, is not checked (custom datasets).
    """
    if isinstance(class_map, str):
        _check_coco_source(categories, class_map, classes, owner, ann_file)
    elif class_map is None and isinstance(classes, str):
        _check_file_is_table(categories, classes, owner, ann_file)


def _check_file_is_table(categories: Sequence[Mapping[str, Any]], name: str, owner: str,
                         ann_file: Optional[str]) -> None:
    table = {int(c["id"]): str(c["name"]) for c in named_categories(name)}
    file_cats = sorted(((int(c["id"]), str(c["name"])) for c in categories), key=lambda c: c[0])
    renamed = [(i, n) for i, n in file_cats if i in table and class_name_key(n) != class_name_key(table[i])]
    if renamed:
        first_id, first_name = renamed[0]
        found = recognise_categories(categories)
        if found is not None:
            coco_map = found == "COCO" and name in COCO_CLASS_MAPS
            hint = f"; COCO files take class_map='coco_to_{name}'" if coco_map else ""
            raise ConfigError(f"{owner}: the categories of {_file_words(ann_file)} are {found}'s "
                              f"(id {first_id} '{first_name}'), but the config names classes='{name}'{hint}")
        raise ConfigError(f"{owner}: {_file_words(ann_file)} names category id {first_id} '{first_name}', but "
                          f"classes='{name}' has '{table[first_id]}' there (the file and the table disagree on "
                          f"{len(renamed)} of its {len(file_cats)} categories)")
    unknown = [(i, n) for i, n in file_cats if i not in table]
    if unknown:
        raise DataError(f"{owner}: {_file_words(ann_file)} has category ids that classes='{name}' lacks: "
                        f"{_id_name_list(unknown)} (the table's {len(table)} categories have ids "
                        f"{min(table)}..{max(table)})")


def _check_coco_source(categories: Sequence[Mapping[str, Any]], map_name: str, classes: Classes, owner: str,
                       ann_file: Optional[str]) -> None:
    table = _named_class_map(map_name)
    target = map_name[len("coco_to_"):]
    if isinstance(classes, str) and named_categories(classes) != ytvis_categories(target):
        raise ConfigError(f"{owner}: class_map='{map_name}' maps into {DATASET_TITLES[target]}'s categories, "
                          f"but the config names classes='{classes}'")
    coco = {int(c["id"]): str(c["name"]) for c in named_categories("coco")}
    wrong = [(int(c["id"]), str(c["name"])) for c in sorted(categories, key=lambda c: int(c["id"]))
             if int(c["id"]) in table and class_name_key(c["name"]) != class_name_key(coco[int(c["id"])])]
    if wrong:
        first_id, first_name = wrong[0]
        found = recognise_categories(categories)
        whose = f": its categories are {found}'s, not COCO's" if found is not None else ""
        raise ConfigError(f"{owner}: class_map='{map_name}' reads COCO category ids, but {_file_words(ann_file)} "
                          f"names id {first_id} '{first_name}' (COCO's is '{coco[first_id]}'){whose}")


class LabelSpaceMixin:
    """What every dataset exposes about its labels, given ``self.cat_ids`` (label -> dataset category id)."""

    cat_ids: List[int]

    @property
    def num_classes(self) -> int:
        return len(self.cat_ids)

    def label_to_cat_id(self, label: int) -> int:
        """Contiguous label -> dataset category id, for writing results."""
        return self.cat_ids[int(label)]


def model_label_map(model_names: Sequence[str], categories: Sequence[Mapping[str, Any]],
                    owner: str = "annotation file") -> Tuple[Dict[int, int], Optional[str]]:
    """How a model's labels become a dataset's category ids when its results are written for that dataset.

    -> ({model label: category id}, note). Labels missing from the dict have no counterpart: their detections
    are dropped. In order:

    1. the same class names in the same order (the model was trained on this label space), or a model without
       class names and as many classes as categories: label i -> the i-th category by id;
    2. a COCO model (80 COCO names, or the 91 COCO-id slots) on YouTube-VIS 2019 / 2021 / 2022 or OVIS: the class
       tables of `vis.data.ytvis_classes` (zero-shot; e.g. car -> sedan in 2019, car / bus / truck -> Vehical in
       OVIS, classes with no counterpart dropped);
    3. otherwise by name (`class_name_key`: case and '_' / ' ' ignored): each model class whose name is a
       category's name.

    No class in common is a one-line ConfigError naming both label spaces (e.g. the 6-class demo model on a
    5-category file of other names).
    """
    from ..coco_classes import COCO_CLASSES, coco_category_id

    cats = sorted(categories, key=lambda c: int(c["id"]))
    names = [str(n) for n in model_names]
    cat_names = [str(c["name"]) for c in cats]
    unnamed = names == [f"class {i}" for i in range(len(names))]  # a model that stores no class names
    same_names = [class_name_key(n) for n in names] == [class_name_key(n) for n in cat_names]
    if same_names or (unnamed and len(names) == len(cats)):
        return {label: int(c["id"]) for label, c in enumerate(cats)}, None
    dataset = detect_dataset(cats)
    coco_names = {class_name_key(n) for n in COCO_CLASSES}
    if dataset is not None and coco_names <= {class_name_key(n) for n in names}:
        table = COCO_CLASS_MAPS[dataset]
        mapping = {}
        for label, name in enumerate(names):
            coco_id = coco_category_id(name)
            if coco_id is not None and coco_id in table:
                mapping[label] = table[coco_id]
        note = (f"COCO classes -> {DATASET_TITLES[dataset]} through the class table: {len(mapping)} of the model's "
                f"{len(COCO_CLASSES)} COCO classes have a counterpart, detections of the others are dropped")
        return mapping, note
    by_name = {class_name_key(c["name"]): int(c["id"]) for c in cats}
    mapping = {label: by_name[class_name_key(n)] for label, n in enumerate(names) if class_name_key(n) in by_name}
    if not mapping:
        def shown(items):
            return ", ".join(items[:6]) + (", ..." if len(items) > 6 else "")

        raise ConfigError(
            f"the {owner}'s {len(cats)} categories ({shown(cat_names)}) share no class name with the model's "
            f"{len(names)} classes ({shown(names)}): evaluate the model on data of its own classes")
    dropped = "; detections of the others are dropped" if len(mapping) < len(names) else ""
    note = (f"classes matched by name: {len(mapping)} of the model's {len(names)} classes map to the "
            f"{owner}'s {len(cats)} categories{dropped}")
    return mapping, note
