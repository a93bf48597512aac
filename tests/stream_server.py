"""A live MPEG-TS stream on 127.0.0.1 for the stream tests, served the way a camera or an FFmpeg relay serves one.

    python tests/stream_server.py PORT CLIP --frames 30 [--drop-after 12] [--fps 25]

It listens on ``tcp://127.0.0.1:PORT`` and, when a client connects, sends the first ``--frames`` frames of ``CLIP``
as H.264 in MPEG-TS, paced in real time (`vis.io.stream.serve_mpegts`: libx264 through PyAV, the encoder the
project already ships). With ``--drop-after N`` it closes the connection after N frames (a dropped stream),
listens again and sends the remaining frames to the next client from a fresh encoder (a keyframe first, as a
camera restarts). On stdout: ``listening PORT`` before each wait for a client, ``sent <first> <count>`` after each
connection, then ``done``, so a test knows exactly which frames went out.
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("clip")
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--drop-after", type=int, default=None)
    parser.add_argument("--fps", type=int, default=25)
    args = parser.parse_args()

    from vis.io.stream import serve_mpegts
    from vis.io.video import open_frame_source

    source = open_frame_source(args.clip, 0, args.frames)
    frames = [image for _, image in source]
    source.close()
    cut = args.drop_after if args.drop_after is not None else len(frames)
    for first, part in ((0, frames[:cut]), (cut, frames[cut:])):
        if part:
            sent = serve_mpegts(args.port, part, args.fps,
                                on_listen=lambda: print(f"listening {args.port}", flush=True))
            print(f"sent {first} {sent}", flush=True)
    print("done", flush=True)


if __name__ == "__main__":
    main()
