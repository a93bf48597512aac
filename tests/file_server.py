"""A real HTTP file server on 127.0.0.1 for the download tests: the code under test talks to it over a socket,
as it would to download.openmmlab.com or a mirror.

It serves ``files`` (URL path -> bytes) with ``Range`` support (206 + ``Content-Range``), records every request,
and can misbehave the ways servers do: answer one path with a status (404, 403), cut the connection part-way
through the first response of a path (``cut_after``), ignore ``Range`` (``no_ranges``), or trickle its bytes
(``bytes_per_second``) so that two clients overlap.
"""
from __future__ import annotations

import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, List, Optional, Tuple


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):  # a client that hangs up mid-file is expected here
        pass


class FileServer:
    def __init__(self, files: Dict[str, bytes]):
        self.files = dict(files)
        self.status: Dict[str, Tuple[int, bytes]] = {}
        self.cut_after: Dict[str, int] = {}
        self.no_ranges = False
        self.bytes_per_second: Optional[int] = None
        self.requests: List[Tuple[str, Optional[str]]] = []  # (path, Range header)
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                server._serve(self)

        self.httpd = QuietServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> "FileServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def gets(self, path: str) -> List[Optional[str]]:
        """The Range headers of the requests for `path` (None: the whole file)."""
        return [r for p, r in self.requests if p == path]

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        path = handler.path.split("?")[0]
        byte_range = handler.headers.get("Range")
        with self._lock:
            self.requests.append((path, byte_range))
            cut = self.cut_after.pop(path, None)
        if path in self.status:
            code, body = self.status[path]
            handler.send_response(code)
            handler.send_header("Content-Length", str(len(body)))
            handler.send_header("Content-Type", "text/html")
            handler.end_headers()
            handler.wfile.write(body)
            return
        data = self.files.get(path)
        if data is None:
            handler.send_error(404)
            return
        start = 0
        match = re.match(r"bytes=(\d+)-$", byte_range or "")
        if match and not self.no_ranges:
            start = int(match.group(1))
            handler.send_response(206)
            handler.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            handler.send_response(200)
        handler.send_header("Content-Length", str(len(data) - start))
        handler.send_header("Content-Type", "application/octet-stream")
        handler.send_header("Accept-Ranges", "bytes")
        handler.send_header("ETag", f'"{len(data)}"')
        handler.end_headers()
        body = data[start:] if cut is None else data[start:start + cut]
        chunk = 64 * 1024
        for offset in range(0, len(body), chunk):
            handler.wfile.write(body[offset:offset + chunk])
            handler.wfile.flush()
            if self.bytes_per_second:
                time.sleep(chunk / self.bytes_per_second)
        if cut is not None:  # the connection drops part-way through the file
            handler.close_connection = True
            handler.connection.shutdown(socket.SHUT_RDWR)


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (connections are refused: the offline case)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
