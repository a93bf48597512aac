"""YouTube-VIS class tables: the 2019 and 2021 category lists and the COCO -> YouTube-VIS class maps.

The YouTube-VIS counterpart of `vis.coco_classes`: `vis.data.label_space` names them in configs
(``classes='ytvis2019'``, ``class_map='coco_to_ytvis2019'``) and `vis.data.ytvis` recognises a file's year by them.
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

_CLASS_LISTS = {"ytvis2019": YTVIS_2019_CLASSES, "ytvis2021": YTVIS_2021_CLASSES}


def ytvis_categories(name: str) -> List[Dict[str, Any]]:
    """'ytvis2019' / 'ytvis2021' -> the official ``[{id, name}, ...]`` (ids 1..40)."""
    if name not in _CLASS_LISTS:
        raise ConfigError(f"unknown class list '{name}' (known: {', '.join(sorted(_CLASS_LISTS))})")
    return [{"id": i + 1, "name": n} for i, n in enumerate(_CLASS_LISTS[name])]


def detect_year(categories: Sequence[Mapping[str, Any]]) -> Optional[int]:
    """2019 or 2021 when ``categories`` are exactly that year's official ids and names, else None."""
    found = {int(c["id"]): str(c["name"]) for c in categories}
    for year, names in ((2019, YTVIS_2019_CLASSES), (2021, YTVIS_2021_CLASSES)):
        if found == {i + 1: n for i, n in enumerate(names)}:
            return year
    return None
