"""A real uvicorn serving an app on a free loopback port, in a thread of the test process (for
tests that share the session's model and searcher instead of starting a subprocess)."""
from __future__ import annotations

import contextlib
import socket
import threading
import time

import uvicorn


@contextlib.contextmanager
def serve_in_thread(app):
    """Yield the base URL while ``app`` is served; uvicorn's defaults otherwise (proxy headers are
    trusted from 127.0.0.1, as behind a local reverse proxy)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
