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
