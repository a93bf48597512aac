"""Many videos in one run of tools/run_video.py: globs, folders of videos, list files, resuming, torchrun.

Three short clips cut from the demo clip (two share a stem) run through the bundled demo model, in one process
and in two torchrun processes (gloo on the CPU), with one torch thread each so that the outputs can be compared
byte for byte.
"""
import json
import os
import subprocess
import sys

import pytest

from assertions import assert_one_line_error
from vis.io.sources import expand_inputs, is_batch, shard, unique_stems

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOL = os.path.join(REPO, "tools", "run_video.py")
DEMO_CLIP = os.path.join(REPO, "models", "demo", "demo.mp4")
ENV = dict(os.environ, OMP_NUM_THREADS="1")
CLIPS = {"a.mp4": (0, 8), "b.mp4": (30, 36), "sub/a.mp4": (60, 70)}  # name -> frames of the demo clip


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    from vis.io.video import open_frame_source
    from vis.io.video_writer import VideoWriter

    root = tmp_path_factory.mktemp("clips")
    for name, (start, end) in CLIPS.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        source = open_frame_source(DEMO_CLIP, start, end)
        writer = VideoWriter(str(root / name), 10, source.frame_size)
        for _, image in source:
            writer.write(image)
        writer.close()
        source.close()
    return root


def run_tool(*args, torchrun=0, timeout=600):
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(torchrun)] if torchrun \
        else [sys.executable]
    return subprocess.run([*launcher, TOOL, *map(str, args), "--no-progress", "--threads", "1"], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout, env=ENV)


def read_runs(out_dir):
    with open(os.path.join(out_dir, "runs.jsonl")) as f:
        return [json.loads(line) for line in f]


def output_files(out_dir):
    """relative path -> bytes of every output file (runs.jsonl aside: it holds timings)."""
    files = {}
    for folder, _, names in os.walk(out_dir):
        for name in names:
            path = os.path.join(folder, name)
            if name != "runs.jsonl":
                with open(path, "rb") as f:
                    files[os.path.relpath(path, out_dir)] = f.read()
    return files


def test_a_glob_in_one_process_and_in_two_gives_the_same_outputs_and_a_rerun_skips(clips, tmp_path):
    pattern = str(clips / "**" / "*.mp4")
    one = run_tool(pattern, "--out-dir", tmp_path / "one")
    assert one.returncode == 0, one.stderr
    assert "3 videos, 3 ok, 0 failed, 0 skipped" in one.stdout
    runs = read_runs(tmp_path / "one")
    assert [(r["source"], r["stem"], r["status"]) for r in runs] == [
        (str(clips / "a.mp4"), "a", "ok"), (str(clips / "b.mp4"), "b", "ok"), (str(clips / "sub" / "a.mp4"), "a-2", "ok")]
    assert [r["frames"] for r in runs] == [8, 6, 10] and all(r["tracks"] > 0 and r["error"] is None for r in runs)
    files = output_files(tmp_path / "one")
    assert sorted(files) == sorted(f"{stem}/{stem}.{kind}" for stem in ("a", "a-2", "b")
                                   for kind in ("vis.mp4", "ytvis.json", "frames.jsonl", "mot.txt"))

    two = run_tool(pattern, "--out-dir", tmp_path / "two", torchrun=2)
    assert two.returncode == 0, two.stderr
    assert output_files(tmp_path / "two") == files  # byte for byte, whichever process ran a video
    assert [(r["source"], r["status"], r["frames"]) for r in read_runs(tmp_path / "two")] == \
        [(r["source"], r["status"], r["frames"]) for r in runs]
    assert not list((tmp_path / "two").glob("runs.rank*"))  # merged by rank 0

    again = run_tool(pattern, "--out-dir", tmp_path / "one")
    assert again.returncode == 0, again.stderr
    assert "skipping 3 of 3 videos whose outputs in" in again.stderr
    assert "3 ok, 0 failed, 3 skipped" in again.stdout
    assert output_files(tmp_path / "one") == files
    assert read_runs(tmp_path / "one") == runs


def test_a_list_with_a_missing_video_runs_the_others_and_exits_2(clips, tmp_path):
    listing = tmp_path / "videos.txt"
    listing.write_text(f"# clips\n{clips / 'b.mp4'}\n\nmissing.mp4\n{clips / 'a.mp4'}\n")
    result = run_tool(listing, "--out-dir", tmp_path / "out", "--outputs", "frames")
    assert_one_line_error(result, "3 videos, 2 ok, 1 failed")
    runs = read_runs(tmp_path / "out")
    assert [(os.path.basename(r["source"]), r["status"]) for r in runs] == [
        ("b.mp4", "ok"), ("missing.mp4", "failed"), ("a.mp4", "ok")]
    assert runs[1]["source"] == str(tmp_path / "missing.mp4")  # relative to the list's folder
    assert runs[1]["error"] == f"input not found: {tmp_path / 'missing.mp4'}"
    assert (tmp_path / "out" / "b" / "b.frames.jsonl").exists()
    # an interrupted or failed batch resumes: only the missing video is tried again
    again = run_tool(listing, "--out-dir", tmp_path / "out", "--outputs", "frames")
    assert "skipping 2 of 3 videos" in again.stderr and again.returncode == 2


def test_a_folder_of_videos_is_a_batch_with_every_nth_frame(clips, tmp_path):
    result = run_tool(clips, "--out-dir", tmp_path / "out", "--outputs", "frames", "ytvis", "--vid-stride", 3)
    assert result.returncode == 0, result.stderr
    runs = read_runs(tmp_path / "out")
    assert [r["stem"] for r in runs] == ["a", "b"] and [r["frames"] for r in runs] == [3, 2]  # 8 and 6 frames
    with open(tmp_path / "out" / "a" / "a.frames.jsonl") as f:
        assert [json.loads(line)["frame"] for line in f] == [0, 3, 6]
    with open(tmp_path / "out" / "a" / "a.ytvis.json") as f:
        assert all(len(entry["segmentations"]) == 3 for entry in json.load(f))


def test_a_glob_with_no_video_is_one_line_and_creates_nothing(tmp_path):
    (tmp_path / "notes.txt.bak").write_text("x")
    result = run_tool(str(tmp_path / "*.mp4"), "--out-dir", tmp_path / "out")
    assert_one_line_error(result, f"no video matches {tmp_path / '*.mp4'}")
    assert not (tmp_path / "out").exists()


def test_inputs_stems_and_shards(clips, tmp_path):
    assert is_batch(str(clips)) and is_batch(str(clips / "*.mp4")) and not is_batch(str(clips / "a.mp4"))
    assert not is_batch("rtsp://host/cam?x=1") and not is_batch("0")
    assert expand_inputs(str(clips)) == [str(clips / "a.mp4"), str(clips / "b.mp4")]
    assert unique_stems(["x/a.mp4", "y/a.mp4", "A.mkv", "rtsp://h/live/cam1.sdp", "x/a-2.mp4"]) == \
        ["a", "a-2", "A-3", "cam1", "a-2-2"]
    # heaviest first, each to the least loaded process; unknown counts weigh the median
    assert shard([100, 10, 50, 40, None, 5], 2) == [[0, 1, 5], [2, 3, 4]]  # loads 115 and 130
    assert sorted(sum(shard([3, 1, 2], 5), [])) == [0, 1, 2]
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "0001.jpg").write_bytes(b"")
    (mixed / "clip.mp4").write_bytes(b"")
    from vis.errors import DataError

    with pytest.raises(DataError, match="holds both image frames and video files"):
        is_batch(str(mixed))
