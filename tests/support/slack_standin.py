"""A local stand-in for the Slack Web API: a real HTTP server on 127.0.0.1 for tests.

It implements the subset of the Web API the pipeline calls, ``chat.postMessage`` and ``auth.test``,
over real HTTP, so the code under test runs the real Airflow Slack provider and slack-sdk client
(retry handlers, timeouts, header parsing and all). Point a Slack connection at it through the
connection extra ``base_url`` (see :func:`slack_connection_json`).

Usage::

    with SlackStandIn() as slack:
        os.environ["AIRFLOW_CONN_SLACK_DEFAULT"] = slack_connection_json(slack.base_url)
        slack.fail_with_rate_limit(times=1, retry_after=1)
        ...
        assert slack.messages[0].channel == "#ml-alerts"

Faults are queued and consumed one per incoming API call, in order:

* :meth:`SlackStandIn.fail_with_rate_limit` -> HTTP 429 with a ``Retry-After`` header
* :meth:`SlackStandIn.fail_with_server_error` -> HTTP 500 (or another 5xx) with a non-JSON body
* :meth:`SlackStandIn.respond_slowly` -> sleeps, then handles the call normally (like Slack, the message
  is still posted even if the client gave up waiting)
* :meth:`SlackStandIn.fail_with_api_error` -> HTTP 200 with ``{"ok": false, "error": ...}``

Authentication mirrors Slack: the token comes from ``Authorization: Bearer <token>`` (or a ``token``
body field); no token gives ``not_authed``, a token outside ``valid_tokens`` gives ``invalid_auth``.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

DEFAULT_TOKEN = "xoxb-test-token"


@dataclass(frozen=True)
class ReceivedMessage:
    """A message the stand-in accepted through ``chat.postMessage``."""

    channel: str
    text: str | None
    blocks: list[dict[str, Any]] | None
    token: str | None
    ts: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class ReceivedRequest:
    """Any API call that reached the stand-in, including the ones answered with a fault."""

    method: str
    token: str | None
    payload: dict[str, Any]
    status: int
    fault: str | None
    received_at: float


@dataclass(frozen=True)
class Fault:
    kind: str  # "rate_limit" | "server_error" | "slow" | "api_error"
    status: int = 200
    retry_after: int | None = None
    delay: float = 0.0
    error: str | None = None


@dataclass
class _State:
    valid_tokens: frozenset[str] | None
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)
    faults: deque[Fault] = field(default_factory=deque)
    messages: list[ReceivedMessage] = field(default_factory=list)
    requests: list[ReceivedRequest] = field(default_factory=list)
    ts_counter: int = 0


class _Handler(BaseHTTPRequestHandler):
    server_version = "SlackStandIn/1.0"
    protocol_version = "HTTP/1.1"
    state: _State  # set on the subclass built per server

    # Keep pytest output clean; everything of interest is recorded in the state instead.
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return

    def do_GET(self) -> None:  # noqa: N802 - Slack accepts GET with query parameters
        self._handle(body=b"")

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        self._handle(body=self.rfile.read(length) if length else b"")

    # -- request handling -------------------------------------------------------------------------------

    def _handle(self, body: bytes) -> None:
        parts = urlsplit(self.path)
        path = parts.path
        if not path.startswith("/api/"):
            self._reply(404, {"ok": False, "error": "unknown_method"})
            return
        method = path[len("/api/") :]
        payload = self._parse_payload(body, parts.query)
        token = self._token(payload)

        with self.state.lock:
            fault = self.state.faults.popleft() if self.state.faults else None

        if fault is not None and fault.kind == "slow":
            # Interruptible, so stopping the server never waits on a slow response.
            self.state.stopping.wait(fault.delay)
            fault_name: str | None = "slow"
            fault = None
        else:
            fault_name = fault.kind if fault else None

        if fault is not None:
            self._reply_fault(method, token, payload, fault)
            return

        status, response = self._dispatch(method, token, payload)
        self._record(method, token, payload, status, fault_name)
        self._reply(status, response)

    def _dispatch(self, method: str, token: str | None, payload: dict[str, Any]) -> tuple[int, dict]:
        if method not in ("chat.postMessage", "auth.test"):
            return 404, {"ok": False, "error": "unknown_method"}
        if not token:
            return 200, {"ok": False, "error": "not_authed"}
        if self.state.valid_tokens is not None and token not in self.state.valid_tokens:
            return 200, {"ok": False, "error": "invalid_auth"}
        if method == "auth.test":
            return 200, {
                "ok": True,
                "url": "https://standin.slack.example/",
                "team": "Stand-in",
                "user": "retrain-bot",
                "team_id": "T00000000",
                "user_id": "U00000000",
                "bot_id": "B00000000",
            }
        return self._post_message(token, payload)

    def _post_message(self, token: str, payload: dict[str, Any]) -> tuple[int, dict]:
        channel = payload.get("channel")
        if not channel:
            return 200, {"ok": False, "error": "channel_not_found"}
        blocks = payload.get("blocks")
        if isinstance(blocks, str):  # form-encoded bodies carry blocks as a JSON string
            try:
                blocks = json.loads(blocks)
            except json.JSONDecodeError:
                return 200, {"ok": False, "error": "invalid_blocks_format"}
        if blocks is not None and not isinstance(blocks, list):
            return 200, {"ok": False, "error": "invalid_blocks_format"}
        text = payload.get("text")
        if not text and not blocks:
            return 200, {"ok": False, "error": "no_text"}
        with self.state.lock:
            self.state.ts_counter += 1
            ts = f"{int(time.time())}.{self.state.ts_counter:06d}"
            self.state.messages.append(
                ReceivedMessage(
                    channel=str(channel), text=text, blocks=blocks, token=token, ts=ts, payload=payload
                )
            )
        message = {"type": "message", "text": text or "", "ts": ts, "bot_id": "B00000000"}
        if blocks:
            message["blocks"] = blocks
        return 200, {"ok": True, "channel": channel, "ts": ts, "message": message}

    def _reply_fault(self, method: str, token: str | None, payload: dict[str, Any], fault: Fault) -> None:
        self._record(method, token, payload, fault.status, fault.kind)
        if fault.kind == "rate_limit":
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            self._reply(429, {"ok": False, "error": "ratelimited"}, headers=headers)
        elif fault.kind == "server_error":
            self._reply_raw(fault.status, b"<html><body>Internal Server Error</body></html>", "text/html")
        else:  # api_error
            self._reply(200, {"ok": False, "error": fault.error or "fatal_error"})

    # -- helpers ------------------------------------------------------------------------------------------

    def _parse_payload(self, body: bytes, query: str) -> dict[str, Any]:
        payload: dict[str, Any] = {k: v[-1] for k, v in parse_qs(query).items()}
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if body and content_type == "application/json":
            try:
                data = json.loads(body.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                data = {}
            if isinstance(data, dict):
                payload.update(data)
        elif body:
            payload.update({k: v[-1] for k, v in parse_qs(body.decode("utf-8")).items()})
        return payload

    def _token(self, payload: dict[str, Any]) -> str | None:
        auth = self.headers.get("Authorization") or ""
        if auth.lower().startswith("bearer "):
            return auth[len("bearer ") :].strip() or None
        token = payload.get("token")
        return str(token) if token else None

    def _record(
        self, method: str, token: str | None, payload: dict[str, Any], status: int, fault: str | None
    ) -> None:
        request = ReceivedRequest(
            method=method,
            token=token,
            payload=payload,
            status=status,
            fault=fault,
            received_at=time.monotonic(),
        )
        with self.state.lock:
            self.state.requests.append(request)

    def _reply(self, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
        self._reply_raw(status, json.dumps(body).encode("utf-8"), "application/json; charset=utf-8", headers)

    def _reply_raw(
        self, status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test); nothing left to tell it


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True


class SlackStandIn:
    """A real HTTP server that answers like the Slack Web API. Thread-safe; use as a context manager."""

    def __init__(
        self, *, valid_tokens: set[str] | frozenset[str] | None = frozenset({DEFAULT_TOKEN})
    ) -> None:
        """``valid_tokens``: tokens that authenticate; ``None`` accepts any non-empty token."""
        self._state = _State(valid_tokens=frozenset(valid_tokens) if valid_tokens is not None else None)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------------------

    def start(self) -> SlackStandIn:
        if self._server is not None:
            return self
        handler = type("BoundHandler", (_Handler,), {"state": self._state})
        self._state.stopping.clear()
        self._server = _Server(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="slack-standin",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._state.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> SlackStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("SlackStandIn is not running; call start() or use it as a context manager")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """The Web API base URL, with the trailing slash slack-sdk needs: ``http://127.0.0.1:PORT/api/``."""
        return f"http://127.0.0.1:{self.port}/api/"

    # -- faults ---------------------------------------------------------------------------------------------

    def inject(self, fault: Fault, times: int = 1) -> None:
        with self._state.lock:
            self._state.faults.extend([fault] * times)

    def fail_with_rate_limit(self, times: int = 1, retry_after: int | None = 1) -> None:
        """Answer the next ``times`` calls with HTTP 429; ``retry_after=None`` omits the header."""
        self.inject(Fault(kind="rate_limit", status=429, retry_after=retry_after), times)

    def fail_with_server_error(self, times: int = 1, status: int = 500) -> None:
        self.inject(Fault(kind="server_error", status=status), times)

    def respond_slowly(self, delay: float, times: int = 1) -> None:
        self.inject(Fault(kind="slow", delay=delay), times)

    def fail_with_api_error(self, error: str = "invalid_auth", times: int = 1) -> None:
        self.inject(Fault(kind="api_error", status=200, error=error), times)

    def clear_faults(self) -> None:
        with self._state.lock:
            self._state.faults.clear()

    @property
    def pending_faults(self) -> int:
        with self._state.lock:
            return len(self._state.faults)

    # -- what arrived -------------------------------------------------------------------------------------

    @property
    def messages(self) -> list[ReceivedMessage]:
        """Messages accepted by ``chat.postMessage`` (a snapshot copy)."""
        with self._state.lock:
            return list(self._state.messages)

    @property
    def requests(self) -> list[ReceivedRequest]:
        """Every API call that arrived, faulted or not (a snapshot copy)."""
        with self._state.lock:
            return list(self._state.requests)

    def wait_for_messages(self, count: int = 1, timeout: float = 5.0) -> list[ReceivedMessage]:
        """Block until at least ``count`` messages arrived (for callers that post from another thread)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            messages = self.messages
            if len(messages) >= count:
                return messages
            time.sleep(0.01)
        raise AssertionError(f"expected {count} Slack message(s) within {timeout}s, got {len(self.messages)}")

    def reset(self) -> None:
        """Forget received messages, requests and pending faults."""
        with self._state.lock:
            self._state.faults.clear()
            self._state.messages.clear()
            self._state.requests.clear()


def slack_connection_json(base_url: str, token: str = DEFAULT_TOKEN, **extra: Any) -> str:
    """The ``AIRFLOW_CONN_<ID>`` value for an Airflow Slack API connection pointed at ``base_url``."""
    return json.dumps({"conn_type": "slack", "password": token, "extra": {"base_url": base_url, **extra}})


@contextmanager
def running_slack_standin(**kwargs: Any) -> Iterator[SlackStandIn]:
    """Start a :class:`SlackStandIn` for the duration of the block."""
    with SlackStandIn(**kwargs) as standin:
        yield standin
