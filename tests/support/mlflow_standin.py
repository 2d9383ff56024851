"""A local MLflow tracking server that is "temporarily unavailable": a real HTTP server for failure tests.

It answers the one read a pipeline makes before it writes anything, ``experiments/get-by-name``, with
MLflow's own "does not exist" answer (HTTP 404, ``RESOURCE_DOES_NOT_EXIST``), and every other REST call with
HTTP 503 and an HTML body, the way a tracking server behind a load balancer answers while it restarts. So
code that only asks whether an experiment exists goes on, and the first write fails the way it would in
production: an ``MlflowException`` from MLflow's own REST client.

    with MlflowUnavailable() as mlflow_server:
        env["MLFLOW_TRACKING_URI"] = mlflow_server.url
        ...
        assert mlflow_server.paths.count("/api/2.0/mlflow/experiments/create") == 4
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "MlflowUnavailable/1.0"
    paths: list[str]
    lock: threading.Lock

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        path = urlsplit(self.path).path
        with self.lock:
            self.paths.append(path)
        if path.endswith("/mlflow/experiments/get-by-name"):
            status, content_type = 404, "application/json"
            body = json.dumps(
                {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "Could not find experiment"}
            ).encode()
        else:
            status, content_type = 503, "text/html"
            body = b"<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PATCH = do_DELETE = _answer  # noqa: N815


class MlflowUnavailable:
    def __init__(self) -> None:
        self._paths: list[str] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> MlflowUnavailable:
        handler = type("Handler", (_Handler,), {"paths": self._paths, "lock": self._lock})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def paths(self) -> list[str]:
        with self._lock:
            return list(self._paths)
