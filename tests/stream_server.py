"""A live MPEG-TS stream on 127.0.0.1 for the stream tests, served the way a camera or an FFmpeg relay serves one.

    python tests/stream_server.py PORT CLIP --frames 30 [--drop-after 12] [--fps 25]

It listens on ``tcp://127.0.0.1:PORT`` (FFmpeg's ``listen=1``), and when a client connects sends the first
``--frames`` frames of ``CLIP`` as H.264 (libx264, the encoder the project already ships through PyAV) in
MPEG-TS, paced in real time. With ``--drop-after N`` it closes the connection after N frames (a dropped
stream), listens again and sends the remaining frames to the next client, from a fresh encoder (a keyframe
first, as a camera restarts). On stdout it prints one line per connection, ``sent <first> <count>``, then
``done``, so a test knows exactly which frames went out.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from fractions import Fraction

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def serve_once(port: int, frames, first: int, fps: int) -> None:
    """Accept one client and send ``frames`` (a list of HxWx3 RGB arrays) in real time, then close."""
    import av

    height, width = frames[0].shape[:2]
    print(f"listening {port}", flush=True)
    out = av.open(f"tcp://127.0.0.1:{port}?listen=1", "w", format="mpegts")
    stream = out.add_stream("libx264", rate=fps)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.options = {"tune": "zerolatency", "preset": "ultrafast"}  # every frame leaves as it is encoded
    began = time.monotonic()
    for i, image in enumerate(frames):
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts, frame.time_base = i, Fraction(1, fps)
        for packet in stream.encode(frame):
            out.mux(packet)
        time.sleep(max(0.0, began + (i + 1) / fps - time.monotonic()))
    for packet in stream.encode():
        out.mux(packet)
    out.close()
    print(f"sent {first} {len(frames)}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("clip")
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--drop-after", type=int, default=None)
    parser.add_argument("--fps", type=int, default=25)
    args = parser.parse_args()

    from vis.io.video import open_frame_source

    source = open_frame_source(args.clip, 0, args.frames)
    frames = [image for _, image in source]
    source.close()
    cut = args.drop_after if args.drop_after is not None else len(frames)
    serve_once(args.port, frames[:cut], 0, args.fps)
    if cut < len(frames):
        serve_once(args.port, frames[cut:], cut, args.fps)
    print("done", flush=True)


if __name__ == "__main__":
    main()
