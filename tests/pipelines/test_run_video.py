"""Streaming video pipeline and tools/run_video.py on a tiny untrained VideoSegmenter and a generated clip.

An untrained model scores ~0.01-0.1, so the runs use ``--score-thr 0``: every detection starts or continues
a track, which is all these plumbing checks need (formats, frame counts, ids, atomic and partial files).
"""
import json
import os
import subprocess
import sys
import threading

import cv2
import numpy as np
import pytest

from assertions import assert_one_line_error
import torch

from vis.data.synthetic import CLASS_NAMES, write_demo_video
from vis.errors import DataError, VisError
from vis.evaluation.submission import validate_results
from vis.io.render import color_for_track, render_frame
from vis.io.sinks import output_path
from vis.io.video import FrameReader, open_frame_source
from vis.io.video_writer import VideoWriter
from vis.structures import Instances

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOL = os.path.join(REPO, "tools", "run_video.py")
NUM_FRAMES, HEIGHT, WIDTH = 12, 64, 80
FINAL_NAMES = ("clip.vis.mp4", "clip.ytvis.json", "clip.frames.jsonl", "clip.mot.txt")

# The structure of configs/shapes/queryinst_vis_tiny_shapes.py, tiny.
TINY_CONFIG = """
model = dict(
    type='VideoSegmenter',
    segmenter=dict(type='QueryInst', num_classes=6, num_proposals=10, num_stages=2,
                   backbone=dict(depth=18, pretrained=None, frozen_stages=-1, norm_eval=False),
                   hidden_dim=32, num_heads=4, feedforward_channels=64, dynamic_channels=8, mask_num_convs=1,
                   max_per_img=10),
    track_head=dict(fc_channels=32, num_fcs=2, last_relu=True),
    track_loss_weight=1.0,
)
data = dict(test=dict(type='YTVISDataset', ann_file='unused.json', img_dir='unused/', test_mode=True,
                      transforms=[dict(type='Resize', scale=(96, 64), keep_ratio=True)]))
tracker = dict(type='OnlineTracker', score_thr=0.05, init_score_thr=0.3, max_per_frame=10, num_frames_retain=20)
"""


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    from vis.config import load_config
    from vis.engine.checkpoint import save_checkpoint
    from vis.models import build_model

    root = tmp_path_factory.mktemp("video_model")
    config = root / "tiny_vis.py"
    config.write_text(TINY_CONFIG)
    cfg = load_config(str(config))
    torch.manual_seed(0)
    model = build_model(cfg.model)
    model.class_names = list(CLASS_NAMES)  # travels in the checkpoint's meta
    checkpoint = save_checkpoint(str(root / "tiny.pth"), model, config=cfg)
    return str(config), checkpoint


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    write_demo_video(str(path), num_frames=NUM_FRAMES, height=HEIGHT, width=WIDTH, seed=3)
    return str(path)


def run_tool(*args, timeout=120):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, TOOL, *map(str, args)], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env=env)


def run_in_process(model_files, path, out_dir, **kwargs):
    """`run_video` with the test model: keyword arguments go to `RunOptions`, `FrameSpan` or run_video itself."""
    from pipelines.video import run_video
    from vis import RunOptions
    from vis.io.video import FrameSpan

    config, checkpoint = model_files
    kwargs.setdefault("score_thr", 0.0)
    span = FrameSpan(**{key: kwargs.pop(key) for key in ("start", "end", "fps") if key in kwargs})
    fields = {key: kwargs.pop(key) for key in list(kwargs) if key in RunOptions.__dataclass_fields__}
    options = RunOptions(config=config, checkpoint=checkpoint, device="cpu", **fields)
    return run_video(path, options, out_dir=str(out_dir), span=span, progress=False, **kwargs)


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def read_mot(path):
    rows = np.loadtxt(path, delimiter=",", ndmin=2)
    assert rows.shape[1] == 10
    return rows


def video_info(path):
    cap = cv2.VideoCapture(path)
    try:
        count = 0
        while cap.read()[0]:
            count += 1
        return count, cap.get(cv2.CAP_PROP_FPS), int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), \
            int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    finally:
        cap.release()


def tracks_from_jsonl(lines):
    """track id -> {frame: instance dict}."""
    tracks = {}
    for line in lines:
        for inst in line["instances"]:
            tracks.setdefault(inst["track_id"], {})[line["frame"]] = inst
    return tracks


# -- end to end ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def full_run(model_files, clip, tmp_path_factory):
    config, checkpoint = model_files
    out = tmp_path_factory.mktemp("full_run") / "out"
    proc = run_tool(clip, "--config", config, "--checkpoint", checkpoint, "--out-dir", out, "--device", "cpu",
                    "--score-thr", "0")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, proc


def test_tool_writes_four_outputs_with_matching_frame_counts(full_run):
    out, proc = full_run
    assert sorted(os.listdir(out)) == sorted(FINAL_NAMES)  # no temp or partial files left
    assert f"{NUM_FRAMES} frames" in proc.stdout and "frame/s" in proc.stderr  # summary line; tqdm bar
    count, fps, width, height = video_info(str(out / "clip.vis.mp4"))
    assert (count, width, height) == (NUM_FRAMES, WIDTH, HEIGHT) and fps == pytest.approx(10.0)
    lines = read_jsonl(out / "clip.frames.jsonl")
    assert [line["frame"] for line in lines] == list(range(NUM_FRAMES))
    results = json.loads((out / "clip.ytvis.json").read_text())
    assert isinstance(results, list) and results
    assert all(len(entry["segmentations"]) == NUM_FRAMES for entry in results)
    video = {"id": 1, "length": NUM_FRAMES, "height": HEIGHT, "width": WIDTH}
    assert validate_results(results, [video]) == []


def test_track_ids_agree_across_jsonl_mot_and_ytvis(full_run):
    out, _ = full_run
    tracks = tracks_from_jsonl(read_jsonl(out / "clip.frames.jsonl"))
    assert tracks
    # MOT: the same (frame, id) pairs, boxes as left/top/width/height, class = label + 1.
    rows = read_mot(out / "clip.mot.txt")
    mot_pairs = {(int(r[0]) - 1, int(r[1])) for r in rows}
    assert mot_pairs == {(frame, tid) for tid, frames in tracks.items() for frame in frames}
    for frame, tid, left, top, w, h, score, cls, x, y in rows:
        inst = tracks[int(tid)][int(frame) - 1]
        x1, y1, x2, y2 = inst["box"]
        assert (left, top, left + w, top + h) == pytest.approx((x1, y1, x2, y2), abs=0.02)
        assert cls == inst["label"] + 1 and score == pytest.approx(inst["score"], abs=1e-4)
        assert (x, y) == (-1, -1)
        assert inst["class_name"] == CLASS_NAMES[inst["label"]]
    # YouTube-VIS: one entry per track, holding exactly that track's masks, category = majority label + 1.
    results = json.loads((out / "clip.ytvis.json").read_text())
    by_masks = {}
    for tid, frames in tracks.items():
        key = tuple(frames[f]["rle"]["counts"] if f in frames else None for f in range(NUM_FRAMES))
        labels = [inst["label"] for inst in frames.values()]
        by_masks[key] = int(np.bincount(labels).argmax()) + 1
    assert len(results) == len(tracks)
    for entry in results:
        key = tuple(s["counts"] if s is not None else None for s in entry["segmentations"])
        assert by_masks[key] == entry["category_id"]


def test_folder_of_frames_in_natural_order(model_files, clip, tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    decoded = [frame for _, frame in open_frame_source(clip, 0, 6)]
    for i in range(6):  # unpadded names: 10.png must come after 9.png
        cv2.imwrite(str(folder / f"{i + 5}.png"), decoded[i][..., ::-1])
    (folder / "notes.txt").write_text("not a frame")
    source = open_frame_source(str(folder))
    assert (source.num_frames, source.frame_size, source.fps) == (6, (HEIGHT, WIDTH), 10.0)
    for index, frame in source:  # PNG is lossless: exactly the decoded frames, in order
        np.testing.assert_array_equal(frame, decoded[index])
    summary = run_in_process(model_files, str(folder), tmp_path / "out", outputs=("ytvis", "frames"))
    assert summary["frames"] == 6 and summary["outputs"]["frames"].endswith("frames.frames.jsonl")
    assert len(read_jsonl(summary["outputs"]["frames"])) == 6
    results = json.loads(open(summary["outputs"]["ytvis"]).read())
    assert validate_results(results, [{"id": 1, "length": 6, "height": HEIGHT, "width": WIDTH}]) == []


def test_start_end_range(model_files, clip, tmp_path):
    summary = run_in_process(model_files, clip, tmp_path, start=3, end=8)
    assert (summary["frames"], summary["start"], summary["end"]) == (5, 3, 8)
    assert [line["frame"] for line in read_jsonl(tmp_path / "clip.frames.jsonl")] == [3, 4, 5, 6, 7]
    assert set(read_mot(tmp_path / "clip.mot.txt")[:, 0].astype(int)) <= {4, 5, 6, 7, 8}  # 1-based source frames
    results = json.loads((tmp_path / "clip.ytvis.json").read_text())
    assert all(len(entry["segmentations"]) == 5 for entry in results)
    assert video_info(str(tmp_path / "clip.vis.mp4"))[0] == 5


# -- rendering -------------------------------------------------------------------------------------
def test_track_colour_is_fixed_per_id_and_used_for_its_mask():
    assert color_for_track(7) == color_for_track(7)
    assert len({color_for_track(i) for i in range(20)}) == 20
    image = np.full((64, 80, 3), 100, dtype=np.uint8)
    masks = torch.zeros((2, 64, 80), dtype=torch.bool)
    masks[0, 10:40, 5:35] = True
    masks[1, 20:55, 45:75] = True
    instances = Instances((64, 80), boxes=torch.tensor([[5.0, 10, 35, 40], [45, 20, 75, 55]]),
                          scores=torch.tensor([0.9, 0.8]), labels=torch.tensor([0, 3]),
                          masks=masks, track_ids=torch.tensor([7, 2]))
    out = render_frame(image, instances, list(CLASS_NAMES))
    assert out.shape == image.shape and out.dtype == np.uint8 and (image == 100).all()  # input untouched
    for (y, x), track_id in (((28, 20), 7), ((53, 60), 2)):  # inside a mask, clear of the boxes and the tabs
        expected = np.rint(0.5 * 100 + 0.5 * np.array(color_for_track(track_id)))
        np.testing.assert_array_equal(out[y, x], expected)
    assert (out[60, 2] == 100).all()  # background untouched


# -- io pieces -------------------------------------------------------------------------------------
def test_reader_thread_stops_on_early_exit(clip):
    reader = FrameReader(open_frame_source(clip), queue_size=2)
    for index, frame in reader:
        assert frame.shape == (HEIGHT, WIDTH, 3) and frame.dtype == np.uint8
        if index == 1:
            break
    reader.close()
    assert not reader._thread.is_alive()


def test_video_writer_is_atomic(tmp_path):
    target = tmp_path / "a.mp4"
    writer = VideoWriter(str(target), 10, (16, 16))
    writer.write(np.zeros((16, 16, 3), np.uint8))
    assert not target.exists()
    writer.close(success=False)
    assert os.listdir(tmp_path) == []
    writer = VideoWriter(str(target), 10, (16, 16))
    writer.write(np.zeros((16, 16, 3), np.uint8))
    assert writer.close() == str(target) and os.listdir(tmp_path) == ["a.mp4"]


# -- bad input -------------------------------------------------------------------------------------
def test_bad_inputs_exit_2_with_one_line(model_files, clip, tmp_path):
    config, checkpoint = model_files
    model = ["--config", config, "--checkpoint", checkpoint, "--device", "cpu"]
    out = ["--out-dir", tmp_path / "out"]
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n")
    data = open(clip, "rb").read()
    truncated = tmp_path / "cut.mp4"
    truncated.write_bytes(data[: len(data) // 2])
    empty = tmp_path / "empty_folder"
    empty.mkdir()
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    assert_one_line_error(run_tool(tmp_path / "nope.mp4", *model, *out), "not found", "nope.mp4")
    assert_one_line_error(run_tool(text, *model, *out), "not a video", "notes.mp4")
    assert_one_line_error(run_tool(truncated, *model, *out), "corrupt or truncated", "cut.mp4")
    assert_one_line_error(run_tool(empty, *model, *out), "no image frames", "empty_folder")
    assert_one_line_error(run_tool(clip, *model, "--out-dir", blocker / "out"), "cannot create output directory")
    assert_one_line_error(run_tool(clip, *model, *out, "--cfg-options", "model.segmenter.hidden_dim=48"),
                          "does not fit")
    assert_one_line_error(run_tool(clip, *model, *out, "--start", NUM_FRAMES), "past the end")
    assert not os.path.exists(tmp_path / "out") or os.listdir(tmp_path / "out") == []


def test_missing_demo_model_names_it(monkeypatch, clip, tmp_path):
    import pipelines.video as video
    import vis.options

    monkeypatch.setattr(vis.options, "REPO", str(tmp_path))  # a checkout without models/demo/
    with pytest.raises(VisError, match="demo model is missing.*queryinst_vis_tiny_shapes.pth.*--model NAME"):
        video.run_video(clip, out_dir=str(tmp_path / "out"), progress=False)
    assert not (tmp_path / "out").exists()


# -- stopping early --------------------------------------------------------------------------------
def assert_only_partial_outputs(out_dir, frames):
    names = sorted(os.listdir(out_dir))
    assert names == sorted(["clip.vis.partial.mp4", "clip.ytvis.partial.json", "clip.frames.partial.jsonl",
                            "clip.mot.partial.txt"]), names
    assert len(read_jsonl(out_dir / "clip.frames.partial.jsonl")) == frames
    assert video_info(str(out_dir / "clip.vis.partial.mp4"))[0] == frames
    for entry in json.loads((out_dir / "clip.ytvis.partial.json").read_text()):
        assert all(s is None for s in entry["segmentations"][frames:])
    assert not [t for t in threading.enumerate() if t.name in ("frame-reader", "video-sinks") and t.is_alive()]


def test_ctrl_c_leaves_only_partial_outputs(monkeypatch, model_files, clip, tmp_path, capsys):
    from vis.models.video_segmenter import VideoSegmenter

    import importlib.util

    spec = importlib.util.spec_from_file_location("run_video_tool", TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)

    predict = VideoSegmenter.predict
    calls = []

    def interrupted_predict(self, *args, **kwargs):  # Ctrl-C while the model runs the 6th frame
        calls.append(1)
        if len(calls) == 6:
            raise KeyboardInterrupt
        return predict(self, *args, **kwargs)

    monkeypatch.setattr(VideoSegmenter, "predict", interrupted_predict)
    config, checkpoint = model_files
    code = tool.main([clip, "--config", config, "--checkpoint", checkpoint, "--out-dir", str(tmp_path),
                      "--device", "cpu", "--score-thr", "0", "--no-progress"])
    assert code == 130
    err = capsys.readouterr().err
    assert "partial outputs" in err and "clip.vis.partial.mp4" in err
    assert_only_partial_outputs(tmp_path, frames=5)


def test_decode_failure_mid_stream_stops_with_partial_outputs(monkeypatch, model_files, clip, tmp_path):
    from vis.io.video import VideoFileSource

    decode = VideoFileSource._decode

    def failing_decode(self):  # damaged data at frame 5: the decoder raises there (see the next test)
        for position, frame in enumerate(decode(self)):
            if position == 5:
                raise DataError(f"decoding {self.path} failed at frame 5: corrupt or truncated file")
            yield frame

    monkeypatch.setattr(VideoFileSource, "_decode", failing_decode)
    with pytest.raises(DataError, match=r"decoding .*clip.mp4 failed at frame 5: corrupt or truncated"):
        run_in_process(model_files, clip, tmp_path)
    assert_only_partial_outputs(tmp_path, frames=5)  # every frame before the failure was written


def test_truncated_file_with_its_index_in_front_stops_with_partial_outputs(model_files, tmp_path):
    """An H.264 mp4 with the index first (+faststart, as our writer and most web videos) cut short still opens
    and decodes its first frames: the run stops where the frames run out, keeps them as partial, exits 2."""
    full = str(tmp_path / "full.mp4")
    writer = VideoWriter(full, 10, (HEIGHT, WIDTH))
    rng = np.random.default_rng(0)
    for i in range(40):
        frame = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
        frame[:, (2 * i) % WIDTH:] = 120
        writer.write(frame + rng.integers(0, 30, frame.shape, dtype=np.uint8))
    writer.close()
    data = open(full, "rb").read()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    source = open_frame_source(str(cut))
    assert source.total_frames == 40  # the header still announces every frame
    source.close()
    out = tmp_path / "out"
    with pytest.raises(DataError, match=r"cut.mp4 (ends at frame \d+ although its header announces 40 frames"
                                        r"|failed at frame \d+)"):
        run_in_process(model_files, str(cut), out)
    names = os.listdir(out)
    assert names and all(".partial." in name for name in names), names
    assert 0 < len(read_jsonl(out / "cut.frames.partial.jsonl")) < 40


def test_write_failure_stops_with_partial_outputs(monkeypatch, model_files, clip, tmp_path):
    from vis.io.sinks import MOTSink

    write = MOTSink.write

    def disk_full_on_third_frame(self, frame_index, image, tracked):
        if frame_index == 2:
            raise OSError(28, "No space left on device")
        return write(self, frame_index, image, tracked)

    monkeypatch.setattr(MOTSink, "write", disk_full_on_third_frame)
    with pytest.raises(VisError, match="writing the outputs failed: No space left on device"):
        run_in_process(model_files, clip, tmp_path)
    names = os.listdir(tmp_path)
    assert names and all(".partial." in name for name in names), names
    assert len(read_jsonl(tmp_path / "clip.frames.partial.jsonl")) in (2, 3)  # the sink order decides


def test_damaged_video_data_is_a_data_error(model_files, tmp_path):
    # Damaged packets are found at open or some frames later, depending on where they are; only the outcome is
    # fixed: a one-line DataError and no complete-looking output.
    path = tmp_path / "clip.mp4"
    write_demo_video(str(path), num_frames=40, height=HEIGHT, width=WIDTH, seed=3)
    data = bytearray(path.read_bytes())
    data[len(data) // 3: len(data) // 2] = bytes(len(data) // 2 - len(data) // 3)  # zero part of the frame data
    path.write_bytes(bytes(data))
    out = tmp_path / "out"
    with pytest.raises(DataError, match="corrupt"):
        run_in_process(model_files, str(path), out)
    assert not set(FINAL_NAMES) & set(os.listdir(out) if out.exists() else [])


def test_output_names():
    assert output_path("out", "clip", "vis", ".mp4") == os.path.join("out", "clip.vis.mp4")
    assert output_path("out", "clip", "mot", ".txt", partial=True) == os.path.join("out", "clip.mot.partial.txt")


def test_bundled_demo_model_tracks_the_bundled_clip(tmp_path):
    """The README quick start: the default model on models/demo/demo.mp4, small enough for git, finds the shapes."""
    from vis.engine.checkpoint import read_checkpoint
    from vis.options import RunOptions

    demo = RunOptions().resolve()
    DEMO_CHECKPOINT, DEMO_CONFIG = demo.checkpoint, demo.config
    clip = os.path.join(REPO, "models", "demo", "demo.mp4")
    assert os.path.getsize(DEMO_CHECKPOINT) <= 25_000_000 and os.path.getsize(clip) <= 2_000_000
    meta = read_checkpoint(DEMO_CHECKPOINT)["meta"]
    assert meta["class_names"] == list(CLASS_NAMES) and meta["weights_dtype"] == "int8"
    assert os.path.isfile(DEMO_CONFIG)
    proc = run_tool(clip, "--out-dir", tmp_path, "--end", "20", "--no-progress", "--outputs", "ytvis", "frames")
    assert proc.returncode == 0, proc.stderr
    results = json.loads((tmp_path / "demo.ytvis.json").read_text())
    assert validate_results(results, [{"id": 1, "length": 20, "height": 240, "width": 320}]) == []
    # A trained model: the clip shows 2-3 shapes from its first frame, so confident tracks exist.
    assert sum(entry["score"] >= 0.3 for entry in results) >= 1
    frames = read_jsonl(tmp_path / "demo.frames.jsonl")
    assert len(frames) == 20 and sum(len(f["instances"]) for f in frames) >= 20


# -- every segmenter behind the same pipeline ------------------------------------------------------
OTHER_SEGMENTERS = {
    "ISTR": "dict(type='ISTR', num_classes=6, num_proposals=10, num_stages=2, hidden_dim=32, num_heads=4, "
            "feedforward_channels=64, dynamic_channels=8, num_cls_fcs=1, num_reg_fcs=1, num_mask_fcs=1, max_per_img=10, "
            "backbone=dict(depth=18, pretrained=None, frozen_stages=-1, norm_eval=False), mask_codec='{codec}')",
    "SOLQ": "dict(type='SOLQ', num_classes=6, num_queries=10, hidden_dim=64, num_heads=4, enc_layers=1, dec_layers=2, "
            "dim_feedforward=64, dropout=0.0, vector_hidden_dim=64, max_per_img=10, "
            "backbone=dict(depth=18, pretrained=None, frozen_stages=-1, norm='bn', norm_eval=False))",
}


@pytest.mark.parametrize("kind", sorted(OTHER_SEGMENTERS))
def test_istr_and_solq_run_through_the_same_pipeline(kind, clip, tmp_path):
    """A VideoSegmenter around ISTR or SOLQ needs no pipeline change: outputs valid, names from the checkpoint."""
    from inputs import rectangle_masks
    from vis.config import load_config
    from vis.engine.checkpoint import save_checkpoint
    from vis.models import build_model
    from vis.models.pca_codec import fit_pca_codec, save_codec

    codec = str(tmp_path / "codec.pth")
    save_codec(codec, fit_pca_codec([rectangle_masks(num=200)], dim=60, seed=0))
    config = tmp_path / f"{kind.lower()}_vis.py"
    config.write_text(TINY_CONFIG.replace(
        "segmenter=dict(type='QueryInst', num_classes=6, num_proposals=10, num_stages=2,\n"
        "                   backbone=dict(depth=18, pretrained=None, frozen_stages=-1, norm_eval=False),\n"
        "                   hidden_dim=32, num_heads=4, feedforward_channels=64, dynamic_channels=8, mask_num_convs=1,\n"
        "                   max_per_img=10),", f"segmenter={OTHER_SEGMENTERS[kind].format(codec=codec)},"))
    cfg = load_config(str(config))
    torch.manual_seed(0)
    model = build_model(cfg.model)
    assert type(model.segmenter).__name__ == kind
    model.init_weights()  # ISTR: loads the codec into the model, so the checkpoint carries it
    model.class_names = list(CLASS_NAMES)
    checkpoint = save_checkpoint(str(tmp_path / "model.pth"), model, config=cfg)
    os.remove(codec)  # inference needs only the checkpoint
    summary = run_in_process((str(config), checkpoint), clip, tmp_path / "out")
    assert summary["frames"] == NUM_FRAMES and summary["tracks"] > 0
    results = json.loads((tmp_path / "out" / "clip.ytvis.json").read_text())
    assert validate_results(results, [{"id": 1, "length": NUM_FRAMES, "height": HEIGHT, "width": WIDTH}]) == []
    names = {inst["class_name"] for line in read_jsonl(tmp_path / "out" / "clip.frames.jsonl")
             for inst in line["instances"]}
    assert names and names <= set(CLASS_NAMES)


# -- image models (no track head) track with the query tracker ------------------------------------
IMAGE_CONFIG = """
model = dict(type='QueryInst', num_classes=6, num_proposals=10, num_stages=2,
             backbone=dict(depth=18, pretrained=None, frozen_stages=-1, norm_eval=False),
             hidden_dim=32, num_heads=4, feedforward_channels=64, dynamic_channels=8, mask_num_convs=1,
             max_per_img=10)
data = dict(test=dict(type='CocoDataset', ann_file='unused.json', img_dir='unused/', test_mode=True,
                      transforms=[dict(type='Resize', scale=(96, 64), keep_ratio=True)]))
"""


@pytest.fixture(scope="module")
def image_model_files(tmp_path_factory):
    """A tiny image-only QueryInst (no tracker section: QueryTracker is the default) and its checkpoint."""
    from vis.config import load_config
    from vis.engine.checkpoint import save_checkpoint
    from vis.models import build_model

    root = tmp_path_factory.mktemp("image_model")
    config = root / "tiny_image.py"
    config.write_text(IMAGE_CONFIG)
    torch.manual_seed(0)
    model = build_model(load_config(str(config)).model)
    model.class_names = list(CLASS_NAMES)
    return str(config), save_checkpoint(str(root / "tiny_image.pth"), model)


def test_image_only_model_writes_four_consistent_outputs(image_model_files, clip, tmp_path):
    summary = run_in_process(image_model_files, clip, tmp_path / "out")
    assert summary["tracker"] == "QueryTracker"
    assert summary["frames"] == NUM_FRAMES and summary["tracks"] > 0
    out = tmp_path / "out"
    assert sorted(os.listdir(out)) == sorted(FINAL_NAMES)
    assert video_info(str(out / "clip.vis.mp4"))[0] == NUM_FRAMES
    lines = read_jsonl(out / "clip.frames.jsonl")
    assert [line["frame"] for line in lines] == list(range(NUM_FRAMES))
    jsonl_ids = {inst["track_id"] for line in lines for inst in line["instances"]}
    assert len(jsonl_ids) == summary["tracks"]
    assert {int(i) for i in read_mot(out / "clip.mot.txt")[:, 1]} == jsonl_ids
    results = json.loads((out / "clip.ytvis.json").read_text())
    assert len(results) == summary["tracks"]
    assert validate_results(results, [{"id": 1, "length": NUM_FRAMES, "height": HEIGHT, "width": WIDTH}]) == []
    names = {inst["class_name"] for line in lines for inst in line["instances"]}
    assert names and names <= set(CLASS_NAMES)  # from the checkpoint's meta, not "class 3"


def test_query_tracker_on_a_video_model_uses_its_segmenter(model_files, image_model_files, clip, tmp_path):
    """--tracker QueryTracker on a video model; an image checkpoint in a video config tracks with it and says so."""
    from vis.inference import load_video_model
    from vis.options import RunOptions

    config, checkpoint = model_files
    loaded = load_video_model(RunOptions(config=config, checkpoint=checkpoint, tracker="QueryTracker"))
    assert type(loaded.model).__name__ == "QueryInst" and loaded.tracker_cfg == {"type": "QueryTracker"}
    assert loaded.notes == []
    default = load_video_model(RunOptions(config=config, checkpoint=checkpoint))
    assert type(default.model).__name__ == "VideoSegmenter" and default.tracker_cfg["type"] == "OnlineTracker"
    # The image checkpoint's keys get the segmenter prefix; the missing track head switches the tracker.
    image_ckpt = image_model_files[1]
    switched = load_video_model(RunOptions(config=config, checkpoint=image_ckpt))
    assert type(switched.model).__name__ == "QueryInst" and switched.tracker_cfg == {"type": "QueryTracker"}
    assert len(switched.notes) == 1
    assert "has no track head (an image model): tracking with QueryTracker" in switched.notes[0]
    summary = run_in_process((config, image_ckpt), clip, tmp_path / "out", outputs=["frames"])
    assert summary["tracker"] == "QueryTracker" and summary["frames"] == NUM_FRAMES


def test_model_and_tracker_mismatches_exit_2_with_one_line(model_files, image_model_files, clip, tmp_path):
    video_config, video_ckpt = model_files
    image_config, image_ckpt = image_model_files
    out = ["--out-dir", tmp_path / "out", "--device", "cpu"]
    assert_one_line_error(run_tool(clip, "--config", image_config, "--checkpoint", video_ckpt, *out),
                          "holds a VideoSegmenter(QueryInst) model", "the config builds QueryInst",
                          "pass the video config it was trained with")
    assert_one_line_error(run_tool(clip, "--config", video_config, "--checkpoint", image_ckpt, *out,
                                   "--tracker", "OnlineTracker"), "has no track head", "--tracker QueryTracker")
    assert_one_line_error(run_tool(clip, "--config", image_config, "--checkpoint", image_ckpt, *out,
                                   "--tracker", "OnlineTracker"), "image model without one")
    assert_one_line_error(run_tool(clip, "--config", image_config, "--checkpoint", image_ckpt, *out,
                                   "--tracker", "SORT"), "unknown tracker 'SORT'", "QueryTracker")
    assert not os.path.exists(tmp_path / "out") or os.listdir(tmp_path / "out") == []


# -- what the user sees ----------------------------------------------------------------------------
def test_boxes_are_clipped_and_empty_masks_hidden_after_tracking():
    from vis.inference import visible
    from vis.models.frame_transform import FrameTransform

    probs = torch.ones(3, 4, 4)
    probs[1] = 0.0  # the second detection's mask is empty
    found = Instances((20, 30), boxes=torch.tensor([[-6.0, -1.5, 10.0, 7.5], [0.5, 0.5, 2.5, 2.5],
                                                    [22.5, 14.0, 35.75, 22.0]]),
                      scores=torch.tensor([0.9, 0.8, 0.2]), labels=torch.tensor([0, 1, 2]), mask_probs=probs)
    (out,) = FrameTransform().to_frame([found], [(40, 60)], clip=True)  # the video path: x2, clipped
    assert out.labels.tolist() == [0, 1, 2]  # the tracker still sees the empty-mask one (it keeps tracks going)
    assert out.boxes.tolist() == [[0.0, 0.0, 20.0, 15.0], [1.0, 1.0, 5.0, 5.0], [45.0, 28.0, 60.0, 40.0]]
    assert out.masks.shape == (3, 40, 60) and out.masks[2, 31:40, 48:60].all() and not out.masks[1].any()
    (unclipped,) = FrameTransform().to_frame([found], [(40, 60)])  # image inference: as the references
    assert unclipped.boxes[2].tolist() == [45.0, 28.0, 71.5, 44.0] and torch.equal(unclipped.masks, out.masks)
    assert visible(out).labels.tolist() == [0, 2]  # ... but it is neither drawn nor written


def test_track_label_votes_give_one_class_per_track_equal_to_the_ytvis_category():
    from vis.tracking import TrackLabelVotes, VideoResultAccumulator

    votes = TrackLabelVotes()
    frames = [(1, 2), (1, 4), (1, 2), (1, 4), (1, 4), (1, 2)]  # (track id, detected label) per frame
    shown = [int(votes.update([t], [l])[0]) for t, l in frames]
    assert shown == [2, 2, 2, 2, 4, 2]  # running majority; ties -> the smaller label
    accumulator = VideoResultAccumulator(len(frames), (8, 8))
    mask = torch.zeros(1, 8, 8, dtype=torch.bool)
    mask[0, 2:5, 2:5] = True
    for i, (t, l) in enumerate(frames):
        accumulator.add(Instances((8, 8), track_ids=torch.tensor([t]), labels=torch.tensor([l]),
                                  scores=torch.tensor([0.5]), masks=mask), frame_index=i)
    assert accumulator.results(1, lambda label: label)[0]["category_id"] == shown[-1]


def test_labels_are_readable_and_stay_inside_the_frame():
    from vis.io.render import label_style, label_text, text_color_for

    assert label_text(["circle"], 0, 3, 0.871) == "#3 circle 0.87"
    assert text_color_for((250, 240, 60)) == (0, 0, 0) and text_color_for((30, 40, 160)) == (255, 255, 255)
    assert label_style(1080, 1920)[0] == pytest.approx(0.75) and label_style(240, 320)[0] == 0.35
    image = np.zeros((60, 80, 3), np.uint8)
    inst = Instances((60, 80), boxes=torch.tensor([[70.0, 0.0, 80.0, 10.0]]), scores=torch.tensor([0.5]),
                     labels=torch.tensor([0]), track_ids=torch.tensor([12]))
    out = render_frame(image, inst, ["a-long-class-name"])
    drawn = np.argwhere(out.any(axis=2))
    assert drawn[:, 1].min() == 0  # the tab was moved left to fit, not cut at the right edge


def test_outputs_show_one_class_per_track_and_clipped_boxes(model_files, clip, tmp_path):
    summary = run_in_process(model_files, clip, tmp_path / "out")
    out = tmp_path / "out"
    lines = read_jsonl(out / "clip.frames.jsonl")
    results = json.loads((out / "clip.ytvis.json").read_text())
    rows = read_mot(out / "clip.mot.txt")
    assert (rows[:, 2] >= 0).all() and (rows[:, 3] >= 0).all()
    assert (rows[:, 2] + rows[:, 4] <= WIDTH + 1e-6).all() and (rows[:, 3] + rows[:, 5] <= HEIGHT + 1e-6).all()
    last = {}
    for line in lines:
        for inst in line["instances"]:
            x1, y1, x2, y2 = inst["box"]
            assert 0 <= x1 <= x2 <= WIDTH and 0 <= y1 <= y2 <= HEIGHT
            last[inst["track_id"]] = inst["label"]
    # The JSONL / MOT class of a track at its last frame is its YouTube-VIS category (label + 1).
    mot_last = {int(r[1]): int(r[7]) for r in rows}
    assert all(mot_last[t] == label + 1 for t, label in last.items())
    assert sorted(r["category_id"] for r in results) == sorted(label + 1 for label in last.values())
    assert summary["tracks"] == len(last)


def test_annotated_video_is_browser_playable_h264(tmp_path):
    """H.264 High, yuv420p, index at the front (+faststart); odd sizes padded to even; frames decode back."""
    import av

    for height, width in ((48, 64), (47, 63)):
        path = str(tmp_path / f"v{height}.mp4")
        writer = VideoWriter(path, 12.5, (height, width))
        rng = np.random.default_rng(0)
        for _ in range(5):
            writer.write(rng.integers(0, 255, (height, width, 3), dtype=np.uint8))
        assert writer.close() == path
        with av.open(path) as container:
            stream = container.streams.video[0]
            assert stream.codec_context.name == "h264" and stream.codec_context.profile == "High"
            assert stream.codec_context.pix_fmt == "yuv420p"
            assert (stream.codec_context.height, stream.codec_context.width) == (height + height % 2, width + width % 2)
            assert sum(1 for _ in container.decode(stream)) == 5
        with open(path, "rb") as f:
            head = f.read(4096)
        moov, mdat = head.find(b"moov"), head.find(b"mdat")
        assert 0 <= moov and (mdat < 0 or moov < mdat)  # the index first: a browser plays it while loading


# -- faults and arguments --------------------------------------------------------------------------
def _load_tool():
    import importlib.util

    spec = importlib.util.spec_from_file_location("run_video_tool", TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def test_sigterm_is_handled_like_ctrl_c(monkeypatch, model_files, clip, tmp_path, capsys):
    import signal

    from vis.models.video_segmenter import VideoSegmenter

    predict = VideoSegmenter.predict
    calls = []

    def terminated_predict(self, *args, **kwargs):  # `kill <pid>` while the model runs the 6th frame
        calls.append(1)
        if len(calls) == 6:
            os.kill(os.getpid(), signal.SIGTERM)
        return predict(self, *args, **kwargs)

    monkeypatch.setattr(VideoSegmenter, "predict", terminated_predict)
    config, checkpoint = model_files
    code = _load_tool().main([clip, "--config", config, "--checkpoint", checkpoint, "--out-dir", str(tmp_path),
                              "--device", "cpu", "--score-thr", "0", "--no-progress"])
    assert code == 143
    err = capsys.readouterr().err
    assert "terminated (SIGTERM)" in err and "clip.vis.partial.mp4" in err
    names = sorted(os.listdir(tmp_path))
    assert names == sorted(["clip.vis.partial.mp4", "clip.ytvis.partial.json", "clip.frames.partial.jsonl",
                            "clip.mot.partial.txt"]), names
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # restored after the run


def test_temp_files_of_a_killed_run_are_removed_by_the_next(model_files, clip, tmp_path):
    import subprocess as sp

    out = tmp_path / "out"
    out.mkdir()
    dead = sp.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # its pid is free now: what a SIGKILLed run leaves behind
    alive = sp.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        stale = [f"clip.frames.jsonl.tmp.{dead.pid}", f"clip.ytvis.json.tmp.{dead.pid}.spill",
                 f".clip.vis.mp4.tmp.{dead.pid}.mp4"]
        for name in stale + [f"clip.mot.txt.tmp.{alive.pid}", f"other.mot.txt.tmp.{dead.pid}"]:
            (out / name).write_text("left over")
        run_in_process(model_files, clip, out, outputs=["mot"])
        names = set(os.listdir(out))
        assert not names & set(stale)
        assert {f"clip.mot.txt.tmp.{alive.pid}", f"other.mot.txt.tmp.{dead.pid}", "clip.mot.txt"} <= names
    finally:
        alive.kill()
        alive.wait()


def test_option_errors_come_before_torch_and_before_any_folder(model_files, clip, tmp_path):
    config, checkpoint = model_files
    out = tmp_path / "out"
    model = ["--config", config, "--checkpoint", checkpoint, "--out-dir", str(out)]
    # Runs the tool in-process and then prints whether torch was imported by the time it exited.
    probe = ("import sys, runpy; sys.argv = ['run_video.py'] + sys.argv[1:]\n"
             "try:\n    runpy.run_path(%r, run_name='__main__')\n"
             "except SystemExit as e:\n    print('torch' in sys.modules); sys.exit(e.code)\n") % TOOL
    cases = [(["--score-thr", "7"], "--score-thr must be in [0, 1]"), (["--threads", "0"], "--threads must be >= 1"),
             (["--batch-size", "0"], "--batch-size must be >= 1"), (["--start", "5", "--end", "2"], "--end must be"),
             (["--fps", "0"], "--fps must be > 0")]
    for extra, needle in cases:
        proc = subprocess.run([sys.executable, "-c", probe, clip, *model, *extra], cwd=REPO, capture_output=True,
                              text=True, timeout=60)
        assert proc.returncode == 2 and proc.stdout.strip() == "False", (extra, proc.stdout, proc.stderr)
        assert_one_line_error(proc, needle)
    for args, needle in (([clip, "--config", str(tmp_path / "no.py"), "--checkpoint", checkpoint], "config file not found"),
                         ([clip, "--config", config, "--checkpoint", str(tmp_path / "no.pth")], "checkpoint not found")):
        proc = subprocess.run([sys.executable, "-c", probe, *args, "--out-dir", str(out)], cwd=REPO,
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2 and proc.stdout.strip() == "False", proc.stderr
        assert_one_line_error(proc, needle)
    # A config that loads but does not fit the checkpoint: still no output folder (created after the model loads).
    assert_one_line_error(run_tool(clip, *model, "--cfg-options", "model.segmenter.hidden_dim=48"), "does not fit")
    assert not out.exists()


def test_folder_rate_and_missing_video_stream_are_said(model_files, tmp_path):
    import av

    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(3):
        cv2.imwrite(str(frames / f"{i}.png"), np.full((32, 48, 3), 60 * i, np.uint8))
    source = open_frame_source(str(frames))
    assert source.fps == 10.0 and "writing the annotated video at 10 frames/s (set it with --fps)" in source.notes[0]
    assert open_frame_source(str(frames), fps=25).notes == []

    audio = str(tmp_path / "voice.mp4")
    container = av.open(audio, "w")
    stream = container.add_stream("aac", rate=8000)
    frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
    frame.sample_rate = 8000
    for packet in list(stream.encode(frame)) + list(stream.encode()):
        container.mux(packet)
    container.close()
    with pytest.raises(DataError, match="has no video stream"):
        open_frame_source(audio)


def test_real_looking_h264_clip_through_the_bundled_model(tmp_path):
    """Textured, panning scenes encoded as H.264 (what real footage is) through the demo model with every output:
    H.264 out, boxes inside the frame, each track's shown class its running majority, outputs consistent."""
    import av

    from vis.data.synthetic import write_long_video
    from pipelines.video import run_video
    from vis import RunOptions

    clip = write_long_video(str(tmp_path / "street.mp4"), num_frames=30, height=180, width=320, seed=4,
                            segment_frames=16)
    summary = run_video(clip, RunOptions(device="cpu"), out_dir=str(tmp_path / "out"), progress=False)
    assert summary["frames"] == 30 and summary["tracks"] > 0
    out = tmp_path / "out"
    with av.open(str(out / "street.vis.mp4")) as container:
        assert container.streams.video[0].codec_context.name == "h264"
        assert sum(1 for _ in container.decode(video=0)) == 30
    # Within 2x of the H.264 input (issue 15); the rate cap (`annotated_rate_cap`) binds only on frugal inputs.
    assert os.path.getsize(out / "street.vis.mp4") <= 2 * os.path.getsize(clip)
    votes = {}
    last = {}
    for line in read_jsonl(out / "street.frames.jsonl"):
        ids = [inst["track_id"] for inst in line["instances"]]
        assert len(ids) == len(set(ids))  # one entry, so one class, per track and frame
        for inst in line["instances"]:
            x1, y1, x2, y2 = inst["box"]
            assert 0 <= x1 <= x2 <= 320 and 0 <= y1 <= y2 <= 180
            counts = votes.setdefault(inst["track_id"], {})
            counts[inst["det_label"]] = counts.get(inst["det_label"], 0) + 1
            best = max(counts.values())
            assert inst["label"] == min(label for label, n in counts.items() if n == best)
            last[inst["track_id"]] = inst["label"]
    rows = read_mot(out / "street.mot.txt")
    assert {int(r[1]): int(r[7]) for r in rows} == {t: label + 1 for t, label in last.items()}
    results = json.loads((out / "street.ytvis.json").read_text())
    assert sorted(r["category_id"] for r in results) == sorted(label + 1 for label in last.values())


def test_annotated_video_rate_is_capped_relative_to_the_input(tmp_path):
    """Noise at CRF 23 costs many times the cap; with ``max_bit_rate`` the file stays near rate x duration."""
    from vis.io.sinks import MAX_RATE_OVER_INPUT, annotated_rate_cap
    from vis.io.video import open_frame_source
    from vis.io.video_writer import VideoWriter

    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (128, 160, 3), dtype=np.uint8) for _ in range(50)]  # 2 s at 25 fps
    sizes = {}
    for name, cap in (("free", None), ("capped", 200_000)):
        writer = VideoWriter(str(tmp_path / f"{name}.mp4"), 25, (128, 160), max_bit_rate=cap)
        for frame in frames:
            writer.write(frame)
        writer.close()
        sizes[name] = os.path.getsize(tmp_path / f"{name}.mp4")
    assert sizes["capped"] <= 1.6 * 200_000 * 2 / 8 < sizes["free"] / 4  # VBV allows short bursts
    source = open_frame_source(str(tmp_path / "capped.mp4"))
    assert 0.5 * 200_000 < source.bit_rate < 1.6 * 200_000  # what run_video hands to the sink
    source.close()
    assert annotated_rate_cap(source.bit_rate, 25, (128, 160)) == MAX_RATE_OVER_INPUT * source.bit_rate
    assert annotated_rate_cap(1_000, 25, (720, 1280)) == 0.01 * 720 * 1280 * 25  # floor: labels stay legible
    assert annotated_rate_cap(None, 25, (128, 160)) is None  # frame folders: CRF alone


def test_default_threads_use_the_free_cores(monkeypatch):
    import vis.utils.threads as video

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(video, "available_cores", lambda: 16)
    for load, expected in ((0.2, 15), (3.6, 11), (40.0, 1)):  # idle, 4 cores busy, overloaded
        monkeypatch.setattr(video.os, "getloadavg", lambda load=load: (load, load, load))
        assert video.streaming_threads() == expected
    monkeypatch.setattr(video, "available_cores", lambda: 2)
    monkeypatch.setattr(video.os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert video.streaming_threads() == 1  # an idle 2-core machine: as OMP_NUM_THREADS=1
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert video.streaming_threads() == 3 and video.streaming_threads(2) == 2


def test_label_tabs_never_cover_one_another():
    """Objects on top of one another (the same box three times, a box inside another): each tab gets its own
    spot in the box's column, inside the frame; the best score keeps the natural spot above its box."""
    from vis.io.render import place_tab

    placed = []
    for box in [(40, 50, 90, 90)] * 3 + [(42, 52, 60, 70)]:
        rect = place_tab(box, (30, 12), (120, 160), placed)
        assert 0 <= rect[1] and rect[3] <= 120 and 0 <= rect[0] and rect[2] <= 160
        assert all(rect[3] < other[1] or other[3] < rect[1] or rect[2] < other[0] or other[2] < rect[0]
                   for other in placed), (rect, placed)
        placed.append(rect)
    assert placed[0] == (40, 38, 70, 50)  # above the box, as a single label is drawn
    image = np.zeros((120, 160, 3), np.uint8)
    inst = Instances((120, 160), boxes=torch.tensor([[40.0, 50.0, 90.0, 90.0]] * 2),
                     scores=torch.tensor([0.4, 0.9]), labels=torch.tensor([0, 0]), track_ids=torch.tensor([1, 2]))
    out = render_frame(image, inst, ["circle"])
    tab_rows = np.flatnonzero((out[:, 41] == color_for_track(2)).all(axis=1))
    assert tab_rows.min() < 50  # the 0.9 label sits above the box; the 0.4 one was stacked beside it
    assert (out[:, 41] == color_for_track(1)).all(axis=1).any()


def test_the_annotated_video_draws_what_scores_at_least_show_thr(tmp_path):
    """--show-thr filters the drawing only: a 0.3 detection is not drawn at 0.5; the frame is the rendering of
    the rest."""
    from vis.io.sinks import VisVideoSink

    sink = VisVideoSink(str(tmp_path), "clip", 10.0, (60, 80), ["a", "b"], show_thr=0.5)
    frames = []
    sink._writer = type("Capture", (), {"write": lambda self, frame: frames.append(frame),
                                        "close": lambda self, success, path: None})()
    image = np.full((60, 80, 3), 90, np.uint8)
    inst = Instances((60, 80), boxes=torch.tensor([[5.0, 20.0, 30.0, 50.0], [40.0, 20.0, 70.0, 50.0]]),
                     scores=torch.tensor([0.3, 0.8]), labels=torch.tensor([0, 1]), track_ids=torch.tensor([4, 7]),
                     masks=torch.zeros(2, 60, 80, dtype=torch.bool))
    sink.write(0, image, inst)
    assert np.array_equal(frames[0], render_frame(image, inst[torch.tensor([1])], ["a", "b"]))
    assert not np.array_equal(frames[0], render_frame(image, inst, ["a", "b"]))
