"""The Airflow REST calls the harness makes (demos, integration tests, benchmarks) besides the product's."""

from __future__ import annotations

import urllib.parse
from typing import Any

from retrain.orchestration.airflow_api import AirflowApi


class HarnessApi(AirflowApi):
    """``AirflowApi`` plus asset events read back, DAGs, runs, backfills, task instances and their logs."""

    def asset_events(self, uri: str) -> list[dict]:
        return self.call("GET", "assets/events", asset_id=self.asset_id(uri), limit=100,
                         order_by="timestamp")["asset_events"]

    # -- DAGs, runs, task instances ---------------------------------------------------------------------

    def dag(self, dag_id: str) -> dict:
        return self.call("GET", f"dags/{dag_id}")

    def set_paused(self, dag_id: str, paused: bool) -> dict:
        return self.call("PATCH", f"dags/{dag_id}", {"is_paused": paused})

    def trigger(self, dag_id: str, conf: dict | None = None, logical_date: str | None = None) -> dict:
        return self.call("POST", f"dags/{dag_id}/dagRuns", {"logical_date": logical_date, "conf": conf or {}})

    def clear_run(self, dag_id: str, run_id: str) -> dict:
        """Rerun a DAG run from the start (all its tasks cleared), as "Clear" in the UI does."""
        quoted = urllib.parse.quote(run_id, safe="")
        return self.call("POST", f"dags/{dag_id}/dagRuns/{quoted}/clear", {"dry_run": False, "only_failed": False})

    def backfill(self, dag_id: str, from_date: str, to_date: str, **options: Any) -> dict:
        """``POST /api/v2/backfills``: runs for every schedule tick from ``from_date`` to ``to_date`` (inclusive)."""
        return self.call("POST", "backfills", {"dag_id": dag_id, "from_date": from_date, "to_date": to_date, **options})

    def dag_runs(self, dag_id: str) -> list[dict]:
        return self.call("GET", f"dags/{dag_id}/dagRuns", limit=100, order_by="run_after")["dag_runs"]

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict]:
        quoted = urllib.parse.quote(run_id, safe="")
        rows = self.call("GET", f"dags/{dag_id}/dagRuns/{quoted}/taskInstances", limit=100)["task_instances"]
        return {row["task_id"]: row for row in rows}

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> str:
        """A task try's log as text (one line per log event)."""
        quoted = urllib.parse.quote(run_id, safe="")
        answer = self.call("GET", f"dags/{dag_id}/dagRuns/{quoted}/taskInstances/{task_id}/logs/{try_number}",
                           full_content="true")
        content = answer.get("content") or []
        if isinstance(content, str):
            return content
        return "\n".join(str(e.get("event", "")) if isinstance(e, dict) else str(e) for e in content)
