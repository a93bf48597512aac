"""Dataset records in one shared byte buffer (issue 30): the same samples as reading the JSON directly, and a data
loader whose worker memory does not grow as it draws samples."""
import gc
import json
import os

import numpy as np
import pytest
import torch

from vis.data.coco import CocoDataset, instance_masks, usable_instances_by_image
from vis.data.serialized import SerializedRecords, frozen_heap
from vis.data.synthetic import make_coco_split
from vis.errors import DataError


def test_records_round_trip_as_copies():
    records = [{"id": i, "bbox": [0.5, 1.25, 3.0, 4.0], "segmentation": [[1.0, 2.0, 3.5, 4.0, 5.0, 1.0]] * i,
                "name": f"img{i}.jpg"} for i in range(5)]
    stored = SerializedRecords(records)
    assert len(stored) == 5 and list(stored) == records and stored[-1] == records[4]
    first = stored[0]
    first["id"] = 99  # a copy: what is stored does not change
    assert stored[0]["id"] == 0
    with pytest.raises(IndexError):
        stored[5]
    assert stored.nbytes < 2000 and len(SerializedRecords([])) == 0


@pytest.fixture(scope="module")
def coco_split(tmp_path_factory):
    root = tmp_path_factory.mktemp("coco")
    make_coco_split(str(root), "val", 40, seed=5)
    return str(root / "coco" / "annotations" / "instances_val.json"), str(root / "coco" / "val")


def test_samples_equal_the_annotation_files_own_records(coco_split):
    """Every sample's boxes, masks, labels and ids are those of the JSON's usable instances, bit for bit."""
    ann_file, img_dir = coco_split
    dataset = CocoDataset(ann_file, img_dir)
    reference = {image["id"]: (image, anns) for image, anns in usable_instances_by_image(ann_file)}
    assert dataset.img_ids == [i for i in dataset.img_ids if i in reference] and len(dataset) == len(reference)
    for idx in range(len(dataset)):
        raw = dataset.load_raw(idx)
        image, anns = reference[raw["image_id"]]
        masks, boxes = instance_masks(image, anns)
        assert np.array_equal(raw["masks"], masks) and np.array_equal(raw["boxes"], boxes)
        assert raw["instance_ids"].tolist() == [a["id"] for a in anns]
        assert raw["labels"].tolist() == [dataset.cat_id_to_label[a["category_id"]] for a in anns]
        assert dataset.get_image_info(idx) == image
    # the pycocotools index is built only when evaluation asks for it, from the file
    assert dataset._coco is None
    with open(ann_file) as f:
        assert dataset.coco.dataset == json.load(f)


def _pss_mb(pids):
    """Proportional set size of the processes, MB (/proc/<pid>/smaps_rollup)."""
    total = 0.0
    for pid in pids:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            total += sum(float(line.split()[1]) for line in f if line.startswith("Pss:")) / 1024.0
    return total


@pytest.mark.skipif(not os.path.exists("/proc/self/smaps_rollup"), reason="PSS is read from /proc (Linux)")
def test_loader_workers_do_not_copy_the_records(tmp_path, coco_split):
    """4,000 image records (one small image file linked by all) drawn by 2 workers: their memory and the main
    process's together stay flat from batch 10 to the last (a list of dicts grew, page by page, as workers read)."""
    ann_file, img_dir = coco_split
    with open(ann_file) as f:
        data = json.load(f)
    first_image = data["images"][0]
    template = [a for a in data["annotations"] if a["image_id"] == first_image["id"]]
    images, annotations = [], []
    for i in range(4000):
        images.append(dict(first_image, id=i + 1))
        annotations += [dict(a, id=len(annotations) + k + 1, image_id=i + 1) for k, a in enumerate(template)]
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"images": images, "annotations": annotations, "categories": data["categories"]}))
    dataset = CocoDataset(str(big), img_dir)
    loader = torch.utils.data.DataLoader(dataset, batch_size=8, num_workers=2, collate_fn=lambda batch: len(batch),
                                         persistent_workers=True, shuffle=True,
                                         generator=torch.Generator().manual_seed(0))
    readings = {}
    for batch, _ in enumerate(loader, start=1):
        if batch in (10, len(loader)):
            pids = [os.getpid()] + [w.pid for w in loader._iterator._workers]
            readings[batch] = _pss_mb(pids)
    early, late = readings[10], readings[len(loader)]
    assert late - early < 0.05 * early, readings


def test_video_frames_equal_the_annotation_files_own_records(tmp_path):
    """Each frame's instances are the annotations that make an instance there (MaskTrack R-CNN's rules, written
    out again here from the JSON), with their segmentation and box at that frame."""
    from vis.data.coco import segmentation_to_mask
    from vis.data.synthetic import make_ytvis_split
    from vis.data.ytvis import YTVISDataset

    make_ytvis_split(str(tmp_path), "valid", 5, seed=5)
    ann_file = str(tmp_path / "ytvis" / "valid.json")
    with open(ann_file) as f:
        data = json.load(f)
    dataset = YTVISDataset(ann_file, test_mode=True)
    assert len(dataset.videos) == len(data["videos"]) and dataset.videos[0] == data["videos"][0]

    def kept(ann, t):
        box = (ann.get("bboxes") or [None] * (t + 1))[t]
        return not ann.get("iscrowd") and ann["segmentations"][t] is not None and box is not None \
            and box[2] >= 1 and box[3] >= 1 and (ann.get("areas") or [1] * (t + 1))[t] > 0

    checked = 0
    for v, video in enumerate(data["videos"]):
        anns = [a for a in data["annotations"] if a["video_id"] == video["id"]]
        for t in range(len(video["file_names"])):
            raw = dataset.load_frame(v, t)
            expected = [a for a in anns if kept(a, t)]
            assert raw["instance_ids"].tolist() == [a["id"] for a in expected]
            for i, a in enumerate(expected):
                x, y, w, h = a["bboxes"][t]
                assert raw["boxes"][i].tolist() == np.array([x, y, x + w, y + h], np.float32).tolist()
                assert np.array_equal(raw["masks"][i], segmentation_to_mask(a["segmentations"][t], *raw["orig_size"]))
            checked += len(expected)
    assert checked > 20


def _private_dirty_mb() -> float:
    with open("/proc/self/smaps_rollup") as f:
        return sum(float(line.split()[1]) for line in f if line.startswith("Private_Dirty:")) / 1024.0


def _copied_by_a_collection_in_a_fork() -> float:
    """MB a forked child copies from its parent when it runs a full garbage collection."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report how much a collection made private, then leave at once
        before = _private_dirty_mb()
        gc.collect()
        os.write(write_end, f"{_private_dirty_mb() - before:.3f}".encode())
        os._exit(0)
    os.waitpid(pid, 0)
    return float(os.read(read_end, 64).decode())


@pytest.mark.skipif(not os.path.exists("/proc/self/smaps_rollup"), reason="reads /proc/self/smaps_rollup (Linux)")
def test_workers_forked_in_a_frozen_heap_do_not_copy_it():
    """A collection in a forked worker writes to every object header of the parent's heap (tens of MB with torch
    imported); forked inside `frozen_heap` it leaves them shared, as the trainer forks its loader workers."""
    objects = [{"record": i, "values": [float(i)] * 4} for i in range(200_000)]  # a parent heap worth copying
    copied_plain = _copied_by_a_collection_in_a_fork()
    with frozen_heap():
        copied_frozen = _copied_by_a_collection_in_a_fork()
    assert copied_plain > 20.0, copied_plain
    assert copied_frozen < copied_plain / 5, (copied_frozen, copied_plain)
    assert gc.get_freeze_count() == 0 and len(objects) == 200_000  # the parent's objects are collectable again


def test_a_dataset_built_apart_gives_the_same_samples(coco_split, tmp_path):
    """A large annotation file is parsed in a forked child (`build_apart`, so the parse leaves no holes in the
    parent's heap for loader workers to fill): the dataset that comes back draws the very same samples, and a bad
    file is the same one-line error."""
    from vis.data import BUILD_APART_BYTES, build_dataset

    ann_file, img_dir = coco_split
    cfg = dict(type="CocoDataset", ann_file=ann_file, img_dir=img_dir,
               transforms=[dict(type="Resize", scale=(96, 64), keep_ratio=True), dict(type="RandomFlip", prob=0.5)])
    here, apart = build_dataset(cfg, apart=False), build_dataset(cfg, apart=True)
    assert os.path.getsize(ann_file) < BUILD_APART_BYTES  # so the default builds this one here
    assert len(apart) == len(here) and apart.class_names == here.class_names
    for idx in range(0, len(here), 7):
        ours, theirs = here[idx], apart[idx]
        assert torch.equal(ours["image"], theirs["image"])
        for key in ("boxes", "labels", "masks", "instance_ids"):
            assert torch.equal(ours["target"][key], theirs["target"][key]), key
    truncated = tmp_path / "truncated.json"
    with open(ann_file) as f:
        truncated.write_text(f.read()[:500])
    errors = []
    for built_apart in (False, True):
        with pytest.raises(DataError) as caught:
            build_dataset(dict(cfg, ann_file=str(truncated)), apart=built_apart)
        errors.append(str(caught.value))
    assert errors[0] == errors[1] and "truncated.json" in errors[0] and "\n" not in errors[0]


def _dies(code):
    os._exit(code)


def test_a_child_that_dies_while_building_is_a_one_line_error():
    from vis.data.serialized import build_apart
    from vis.errors import VisError

    with pytest.raises(VisError, match=r"child process failed \(exit status 3"):
        build_apart(_dies, 3)
    assert build_apart(lambda values: {"sum": sum(values), "array": np.arange(5)}, [1, 2])["sum"] == 3
