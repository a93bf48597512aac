"""Cameras and streams through tools/run_video.py: a real MPEG-TS stream served on 127.0.0.1 by
tests/stream_server.py (PyAV + libx264, paced in real time), one that drops and comes back, one that never
opens, and the options that govern them. The bundled demo model tracks the frames of the demo clip.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from assertions import assert_one_line_error

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOL = os.path.join(REPO, "tools", "run_video.py")
SERVER = os.path.join(REPO, "tests", "stream_server.py")
DEMO_CLIP = os.path.join(REPO, "models", "demo", "demo.mp4")
ENV = dict(os.environ, OMP_NUM_THREADS="1")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StreamServer:
    """tests/stream_server.py in a subprocess; ``sent`` collects its ``(first frame, count)`` lines."""

    def __init__(self, frames: int, drop_after=None):
        self.port = free_port()
        args = [sys.executable, SERVER, str(self.port), DEMO_CLIP, "--frames", str(frames)]
        if drop_after is not None:
            args += ["--drop-after", str(drop_after)]
        self.process = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, text=True, env=ENV)
        self.sent = []
        self.listening = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        assert self.listening.wait(60), "the stream server did not start"
        time.sleep(0.5)  # from its 'listening' line to FFmpeg's listen(): a few milliseconds

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def _read(self):
        for line in self.process.stdout:
            if line.startswith("listening"):
                self.listening.set()
            elif line.startswith("sent"):
                _, first, count = line.split()
                self.sent.append((int(first), int(count)))

    def stop(self):
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        self.thread.join(10)


def run_tool(*args, timeout=300):
    return subprocess.run([sys.executable, TOOL, *map(str, args)], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env=ENV)


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def test_a_stream_that_drops_is_read_again_and_its_tracks_continue(tmp_path):
    server = StreamServer(frames=30, drop_after=12)
    try:
        result = run_tool(server.url, "--out-dir", tmp_path, "--timeout", 5, "--reconnect", 2, "--no-progress")
    finally:
        server.stop()
    assert result.returncode == 0, result.stderr
    assert server.sent == [(0, 12), (12, 18)]
    name = f"127.0.0.1_{server.port}"
    lines = read_jsonl(tmp_path / f"{name}.frames.jsonl")
    frames = [line["frame"] for line in lines if "frame" in line]
    gaps = [line["gap"] for line in lines if "gap" in line]
    # every frame sent is read, once, in order, and nothing is invented for the time the stream was away
    assert frames == list(range(30))
    assert len(gaps) == 1 and gaps[0]["after_frame"] == 11 and gaps[0]["next_frame"] == 12
    assert gaps[0]["reconnects"] >= 1 and gaps[0]["seconds"] > 0 and "ended" in gaps[0]["reason"]
    assert [i for i, line in enumerate(lines) if "gap" in line] == [12]  # between frames 11 and 12
    # the tracks of the frame before the drop go on after it (the tracker is not reset)
    by_frame = {line["frame"]: {i["track_id"] for i in line["instances"]} for line in lines if "frame" in line}
    assert by_frame[11] and by_frame[11] & by_frame[12]
    # the other outputs hold the same 30 frames; the run says how the stream ended
    ytvis = json.loads((tmp_path / f"{name}.ytvis.json").read_text())
    assert ytvis and all(len(entry["segmentations"]) == 30 for entry in ytvis)
    assert "not back after 2 reconnect tries" in result.stderr
    assert "outputs complete up to frame 30" in result.stderr
    assert not list(tmp_path.glob("*partial*"))


def test_a_video_file_over_http_is_read_to_its_declared_end(tmp_path):
    """http(s) URLs go through FFmpeg's http protocol (Range requests, served here by tests/file_server.py): a file
    with a declared length ends there, without reconnecting."""
    from file_server import FileServer
    from vis.io.video import open_frame_source
    from vis.io.video_writer import VideoWriter

    clip = tmp_path / "clip.mp4"
    source = open_frame_source(DEMO_CLIP, 0, 9)
    writer = VideoWriter(str(clip), 10, source.frame_size)
    for _, image in source:
        writer.write(image)
    writer.close()
    with FileServer({"/videos/clip.mp4": clip.read_bytes()}) as server:
        result = run_tool(f"{server.url}/videos/clip.mp4", "--out-dir", tmp_path / "out", "--outputs", "frames",
                          "--timeout", 5, "--no-progress")
    assert result.returncode == 0, result.stderr
    assert "clip.mp4: 9 frames" in result.stdout.replace(f"{server.url}/videos/", "")
    frames = [line["frame"] for line in read_jsonl(tmp_path / "out" / "clip.frames.jsonl")]
    assert frames == list(range(9))
    assert "reconnect" not in result.stderr


def test_sigterm_ends_a_live_run_with_complete_outputs(tmp_path):
    server = StreamServer(frames=120)
    process = subprocess.Popen([sys.executable, TOOL, server.url, "--out-dir", str(tmp_path), "--no-progress",
                                "--outputs", "frames", "mot", "ytvis"], cwd=REPO, env=ENV,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # a few frames tracked: the temp JSONL has lines
            temps = list(tmp_path.glob("*.frames.jsonl.tmp.*"))
            if temps and temps[0].read_text().count("\n") >= 5:
                break
            time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
        server.stop()
    assert process.returncode == 143, stderr
    name = f"127.0.0.1_{server.port}"
    frames = [line["frame"] for line in read_jsonl(tmp_path / f"{name}.frames.jsonl")]
    assert len(frames) >= 5 and frames == list(range(len(frames)))
    ytvis = json.loads((tmp_path / f"{name}.ytvis.json").read_text())
    assert all(len(entry["segmentations"]) == len(frames) for entry in ytvis)
    assert (tmp_path / f"{name}.mot.txt").exists()
    assert not list(tmp_path.glob("*partial*")) and not list(tmp_path.glob("*.tmp.*"))
    assert f"stopped after {len(frames)} frames; outputs complete" in stderr


def test_a_stream_that_never_opens_fails_within_the_timeout(tmp_path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)  # accepts connections, never sends a byte
    port = listener.getsockname()[1]
    try:
        began = time.monotonic()
        result = run_tool(f"tcp://127.0.0.1:{port}", "--timeout", 1, "--out-dir", tmp_path / "out")
        elapsed = time.monotonic() - began
    finally:
        listener.close()
    assert_one_line_error(result, f"cannot open tcp://127.0.0.1:{port}: timed out")
    assert elapsed < 30  # interpreter start and imports included; the wait itself is the 1 s timeout
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("source, message", [
    ("rtsp://127.0.0.1:{port}/live", "cannot open rtsp://127.0.0.1:{port}/live: Connection refused"),
    ("97", "cannot open webcam /dev/video97"),
])
def test_a_source_that_cannot_be_opened_is_one_line(tmp_path, source, message):
    if source.isdigit() and not sys.platform.startswith("linux"):
        pytest.skip("webcam indices map to /dev/videoN on Linux")
    port = free_port()  # nothing listens there
    result = run_tool(source.format(port=port), "--out-dir", tmp_path / "out")
    assert_one_line_error(result, message.format(port=port))
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("option, value, message", [
    ("--reconnect", "-1", "--reconnect must be an integer >= 0, got -1"),
    ("--vid-stride", "0", "--vid-stride must be an integer >= 1, got 0"),
    ("--timeout", "0", "--timeout must be > 0 seconds, got 0.0"),
])
def test_out_of_range_source_options(tmp_path, option, value, message):
    result = run_tool("rtsp://127.0.0.1:1/never-opened", option, value, "--out-dir", tmp_path / "out")
    assert_one_line_error(result, message)
    assert not (tmp_path / "out").exists()
