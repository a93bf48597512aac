"""Video class tables: the YouTube-VIS 2019 / 2021 / 2022 and OVIS category lists and the COCO -> video maps.

The video counterpart of `vis.coco_classes`: `vis.data.label_space` names them in configs (``classes='ytvis2019'``,
``class_map='coco_to_ovis'``), and `detect_dataset` recognises which dataset a file's categories are.
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ..errors import ConfigError

# Official category lists; the category id is the 1-based position.
YTVIS_2019_CLASSES: Tuple[str, ...] = (
    "person", "giant_panda", "lizard", "parrot", "skateboard", "sedan", "ape", "dog", "snake", "monkey",
    "hand", "rabbit", "duck", "cat", "cow", "fish", "train", "horse", "turtle", "bear",
    "motorbike", "giraffe", "leopard", "fox", "deer", "owl", "surfboard", "airplane", "truck", "zebra",
    "tiger", "elephant", "snowboard", "boat", "shark", "mouse", "frog", "eagle", "earless_seal", "tennis_racket",
)
YTVIS_2021_CLASSES: Tuple[str, ...] = (
    "airplane", "bear", "bird", "boat", "car", "cat", "cow", "deer", "dog", "duck",
    "earless_seal", "elephant", "fish", "flying_disc", "fox", "frog", "giant_panda", "giraffe", "horse", "leopard",
    "lizard", "monkey", "motorbike", "mouse", "parrot", "person", "rabbit", "shark", "skateboard", "snake",
    "snowboard", "squirrel", "surfboard", "tennis_racket", "tiger", "train", "truck", "turtle", "whale", "zebra",
)

# OVIS (Occluded Video Instance Segmentation), spelt as its annotation files spell them: capitalised, '_' in
# Giant_panda, and "Vehical" (sic: the official files misspell "Vehicle") for id 25. `class_name_key` reads both
# spellings as one class, so a corrected file or a model that says "vehicle" still matches.
OVIS_CLASSES: Tuple[str, ...] = (
    "Person", "Bird", "Cat", "Dog", "Horse", "Sheep", "Cow", "Elephant", "Bear", "Zebra",
    "Giraffe", "Poultry", "Giant_panda", "Lizard", "Parrot", "Monkey", "Rabbit", "Tiger", "Fish", "Turtle",
    "Bicycle", "Motorcycle", "Airplane", "Boat", "Vehical",
)

# COCO category id -> YouTube-VIS 2019 category id, for COCO pre-training / pseudo-video pairs in the
# video label space. Only classes that mean the same object are mapped; everything else is dropped:
#   car -> sedan          YTVIS "sedan" is how the 2019 set names passenger cars (no separate "car" class)
#   motorcycle -> motorbike, airplane, train, truck, boat, cat, dog, horse, cow, elephant, bear, zebra,
#   giraffe, skateboard, snowboard, surfboard, tennis racket -> tennis_racket: same object, same or obvious name
# Not mapped:
#   bird       2019 only has species (parrot, duck, owl, eagle); a generic bird would be mislabelled
#   mouse      COCO's "mouse" (74) is the computer mouse, YTVIS's is the animal
#   bicycle    not a motorbike (some projects map it; we do not)
#   bear       is NOT also mapped to giant_panda: COCO bears are mostly brown/black/polar bears
COCO_TO_YTVIS_2019: Dict[int, int] = {
    1: 1,     # person -> person
    3: 6,     # car -> sedan
    4: 21,    # motorcycle -> motorbike
    5: 28,    # airplane -> airplane
    7: 17,    # train -> train
    8: 29,    # truck -> truck
    9: 34,    # boat -> boat
    17: 14,   # cat -> cat
    18: 8,    # dog -> dog
    19: 18,   # horse -> horse
    21: 15,   # cow -> cow
    22: 32,   # elephant -> elephant
    23: 20,   # bear -> bear
    24: 30,   # zebra -> zebra
    25: 22,   # giraffe -> giraffe
    36: 33,   # snowboard -> snowboard
    41: 5,    # skateboard -> skateboard
    42: 27,   # surfboard -> surfboard
    43: 40,   # tennis racket -> tennis_racket
}

# The same for YouTube-VIS 2021, which has a generic "bird", a "car" and "flying_disc" (COCO frisbee).
COCO_TO_YTVIS_2021: Dict[int, int] = {
    1: 26,    # person
    3: 5,     # car
    4: 23,    # motorcycle -> motorbike
    5: 1,     # airplane
    7: 36,    # train
    8: 37,    # truck
    9: 4,     # boat
    16: 3,    # bird
    17: 6,    # cat
    18: 9,    # dog
    19: 19,   # horse
    21: 7,    # cow
    22: 12,   # elephant
    23: 2,    # bear
    24: 40,   # zebra
    25: 18,   # giraffe
    34: 14,   # frisbee -> flying_disc
    36: 31,   # snowboard
    41: 29,   # skateboard
    42: 33,   # surfboard
    43: 34,   # tennis racket -> tennis_racket
}

# COCO category id -> OVIS category id. OVIS has a generic "Vehical" where COCO splits road vehicles, so several
# COCO classes map to it (the only many-to-one entries of these tables):
#   car, bus, truck -> Vehical
#   bird -> Bird          COCO has one class for every bird, OVIS splits off Poultry and Parrot: Bird is the closest
#                         counterpart (a COCO model's chickens and parrots come out as Bird, and count as wrong)
#   person, bicycle, motorcycle, airplane, boat, cat, dog, horse, sheep, cow, elephant, bear, zebra, giraffe:
#                         same object, same name
# Not mapped:
#   train      OVIS has no rail class, and its annotation guide does not say whether "Vehical" covers trains
#   bear       is NOT also mapped to Giant_panda, as in the YouTube-VIS tables
#   Poultry, Giant_panda, Lizard, Parrot, Monkey, Rabbit, Tiger, Fish, Turtle: COCO has no such class
COCO_TO_OVIS: Dict[int, int] = {
    1: 1,     # person -> Person
    2: 21,    # bicycle -> Bicycle
    3: 25,    # car -> Vehical
    4: 22,    # motorcycle -> Motorcycle
    5: 23,    # airplane -> Airplane
    6: 25,    # bus -> Vehical
    8: 25,    # truck -> Vehical
    9: 24,    # boat -> Boat
    16: 2,    # bird -> Bird
    17: 3,    # cat -> Cat
    18: 4,    # dog -> Dog
    19: 5,    # horse -> Horse
    20: 6,    # sheep -> Sheep
    21: 7,    # cow -> Cow
    22: 8,    # elephant -> Elephant
    23: 9,    # bear -> Bear
    24: 10,   # zebra -> Zebra
    25: 11,   # giraffe -> Giraffe
}

# Table name -> category names (id = 1-based position). YouTube-VIS 2022 has 2021's classes: its train set is
# 2021's, and its valid set adds long videos of the same classes.
_CLASS_LISTS: Dict[str, Tuple[str, ...]] = {
    "ytvis2019": YTVIS_2019_CLASSES,
    "ytvis2021": YTVIS_2021_CLASSES,
    "ytvis2022": YTVIS_2021_CLASSES,
    "ovis": OVIS_CLASSES,
}
# Table name -> its COCO class map (``class_map='coco_to_<name>'``, and zero-shot COCO models).
COCO_CLASS_MAPS: Dict[str, Dict[int, int]] = {
    "ytvis2019": COCO_TO_YTVIS_2019,
    "ytvis2021": COCO_TO_YTVIS_2021,
    "ytvis2022": COCO_TO_YTVIS_2021,
    "ovis": COCO_TO_OVIS,
}
# Table name -> how messages name the dataset.
DATASET_TITLES: Dict[str, str] = {
    "ytvis2019": "YouTube-VIS 2019",
    "ytvis2021": "YouTube-VIS 2021",
    "ytvis2022": "YouTube-VIS 2022",
    "ovis": "OVIS",
}
VIDEO_CLASS_TABLES: Tuple[str, ...] = tuple(_CLASS_LISTS)


# Spellings of one class that files and models disagree on -> the key `class_name_key` gives them.
_SAME_CLASS = {"vehicle": "vehical"}


def class_name_key(name: Any) -> str:
    """What two names of one class have in common: lower case, '_' read as ' ' ('Giant_panda' == 'giant panda'),
    OVIS's "Vehical" == "vehicle"."""
    key = str(name).replace("_", " ").strip().lower()
    return _SAME_CLASS.get(key, key)


def ytvis_categories(name: str) -> List[Dict[str, Any]]:
    """'ytvis2019' / 'ytvis2021' / 'ytvis2022' / 'ovis' -> the official ``[{id, name}, ...]`` (ids 1..N)."""
    if name not in _CLASS_LISTS:
        raise ConfigError(f"unknown class list '{name}' (known: {', '.join(sorted(_CLASS_LISTS))})")
    return [{"id": i + 1, "name": n} for i, n in enumerate(_CLASS_LISTS[name])]


def detect_dataset(categories: Sequence[Mapping[str, Any]]) -> Optional[str]:
    """'ytvis2019', 'ytvis2021' or 'ovis' when ``categories`` are exactly that dataset's ids and names (names
    compared by `class_name_key`), else None. A YouTube-VIS 2022 file is 'ytvis2021': the two share their classes."""
    found = {int(c["id"]): class_name_key(c["name"]) for c in categories}
    for name in ("ytvis2019", "ytvis2021", "ovis"):
        if found == {i + 1: class_name_key(n) for i, n in enumerate(_CLASS_LISTS[name])}:
            return name
    return None
