import pytest

from vis.data.label_space import build_label_space
from vis.errors import ConfigError

COCO_CATS = [{"id": 1, "name": "person"}, {"id": 3, "name": "car"}, {"id": 74, "name": "mouse"}]


def test_identity_label_space_sorted_by_id():
    cat_ids, names, to_label = build_label_space([{"id": 7, "name": "b"}, {"id": 2, "name": "a"}])
    assert cat_ids == [2, 7] and names == ["a", "b"] and to_label == {2: 0, 7: 1}


def test_named_coco_to_ytvis2019_map():
    cat_ids, names, to_label = build_label_space(COCO_CATS, class_map="coco_to_ytvis2019", classes="ytvis2019")
    assert len(cat_ids) == 40 and names[0] == "person" and names[5] == "sedan"
    assert to_label[1] == 0 and to_label[3] == 5  # person -> person, car -> sedan
    assert 74 not in to_label  # COCO's computer mouse is not YouTube-VIS's animal


def test_label_space_errors():
    with pytest.raises(ConfigError, match="needs classes"):
        build_label_space(COCO_CATS, class_map={1: 1})
    with pytest.raises(ConfigError, match="unknown class_map"):
        build_label_space(COCO_CATS, class_map="coco_to_nothing", classes="ytvis2019")
    with pytest.raises(ConfigError, match="not in classes"):
        build_label_space(COCO_CATS, class_map={1: 99}, classes=[{"id": 1, "name": "x"}])


# -- writing a model's labels as a dataset's categories ---------------------------------------------
def test_model_label_map_identity_table_names_and_errors():
    from vis.coco_classes import COCO_CLASSES, coco_id_slot_names
    from vis.data.label_space import model_label_map
    from vis.data.ytvis_classes import ytvis_categories

    shapes = [{"id": i + 1, "name": n} for i, n in enumerate(["circle", "square", "triangle"])]
    assert model_label_map(["circle", "square", "triangle"], shapes) == ({0: 1, 1: 2, 2: 3}, None)
    assert model_label_map(["class 0", "class 1", "class 2"], shapes) == ({0: 1, 1: 2, 2: 3}, None)  # unnamed

    # Zero-shot: a COCO model on YouTube-VIS 2019 / 2021 through the class tables.
    mapping, note = model_label_map(list(COCO_CLASSES), ytvis_categories("ytvis2019"))
    assert mapping[0] == 1 and mapping[2] == 6  # person -> person, car -> sedan
    assert COCO_CLASSES.index("bird") not in mapping and COCO_CLASSES.index("mouse") not in mapping
    assert len(mapping) == 19 and "YouTube-VIS 2019" in note and "19 of the model's 80" in note
    mapping21, _ = model_label_map(list(COCO_CLASSES), ytvis_categories("ytvis2021"))
    assert mapping21[COCO_CLASSES.index("bird")] == 3 and mapping21[COCO_CLASSES.index("frisbee")] == 14
    slots, _ = model_label_map(coco_id_slot_names(), ytvis_categories("ytvis2019"))  # label = COCO category id
    assert slots[1] == 1 and slots[3] == 6 and 0 not in slots and len(slots) == 19

    # By name: a subset of the model's classes (case and '_' ignored), the rest dropped.
    mapping, note = model_label_map(["circle", "Square", "star"], [{"id": 4, "name": "square"}, {"id": 9, "name": "circle"}])
    assert mapping == {0: 9, 1: 4} and "2 of the model's 3 classes" in note and "dropped" in note
    with pytest.raises(ConfigError, match=r"5 categories \(a, b, c, d, e\) share no class name with the model's "
                                          r"3 classes \(circle, square, triangle\)"):
        model_label_map(["circle", "square", "triangle"], [{"id": i, "name": n} for i, n in enumerate("abcde", 1)])
