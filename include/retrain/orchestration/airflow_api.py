"""A small client for Airflow 3's public REST API (``/api/v2``), as an upstream system would use it.

Authentication follows Airflow 3: ``POST /auth/token`` with a username and password returns a JWT
(the simple auth manager's users are in ``[core] simple_auth_manager_users``, their passwords in
``$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated``); every API call sends it as
``Authorization: Bearer <token>``. Standard library only, so any job can use it.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any


class AirflowApiError(RuntimeError):
    def __init__(self, method: str, url: str, status: int, body: str) -> None:
        super().__init__(f"{method} {url} answered HTTP {status}: {body[:500]}")
        self.status = status
        self.body = body


def _request(method: str, url: str, body: Any = None, token: str | None = None, timeout: float = 30) -> Any:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Accept": "application/json"}
    if data is not None:
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            text = response.read().decode()
    except urllib.error.HTTPError as exc:
        raise AirflowApiError(method, url, exc.code, exc.read().decode(errors="replace")) from None
    return json.loads(text) if text else None


def get_token(base_url: str, username: str, password: str, timeout: float = 30) -> str:
    """A JWT for the REST API from Airflow 3's auth endpoint (``POST /auth/token``)."""
    answer = _request("POST", f"{base_url.rstrip('/')}/auth/token", {"username": username, "password": password},
                      timeout=timeout)
    return answer["access_token"]


class AirflowApi:
    """The calls the product makes: asset lookups and events. The harness's calls (runs, task instances, logs)
    are ``retrain_demo.airflow_api.HarnessApi``."""

    def __init__(self, base_url: str, token: str, timeout: float = 30) -> None:
        self.base_url, self.token, self.timeout = base_url.rstrip("/"), token, timeout

    @classmethod
    def login(cls, base_url: str, username: str, password: str) -> AirflowApi:
        return cls(base_url, get_token(base_url, username, password))

    def call(self, method: str, path: str, body: Any = None, **query: Any) -> Any:
        params = {k: v for k, v in query.items() if v is not None}
        url = f"{self.base_url}/api/v2/{path.lstrip('/')}"
        if params:
            url += "?" + urllib.parse.urlencode(params, doseq=True)
        return _request(method, url, body, self.token, self.timeout)

    # -- assets -----------------------------------------------------------------------------------------

    def asset_id(self, uri: str) -> int:
        """The id Airflow gave the Asset with exactly this URI (it exists once a DAG using it was parsed)."""
        found = self.call("GET", "assets", uri_pattern=uri, limit=100)["assets"]
        for asset in found:
            if asset["uri"] == uri:
                return int(asset["id"])
        raise LookupError(f"Airflow knows no asset with URI {uri!r} (is a DAG that uses it parsed?)")

    def post_asset_event(self, uri: str, extra: dict | None = None) -> dict:
        """``POST /api/v2/assets/events``: what an upstream system sends when data has landed."""
        return self.call("POST", "assets/events", {"asset_id": self.asset_id(uri), "extra": extra or {}})
