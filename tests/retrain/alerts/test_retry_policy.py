"""Retries that fit the failure: which errors fail at once and which are retried (retrain.orchestration.retries).

The exceptions are the real ones: MLflow's own client against a closed port, torch's OOM error class.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest
from airflow.sdk import RetryAction
from retrain.errors import DataContractError, GpuUnavailableError, SpecError, StaleDataError
from retrain.orchestration.retries import (
    RETRIES,
    TASK_FAILURES,
    default_task_args,
    exception_chain,
    retry_policy,
    task_doc,
)


def _decide(exc: BaseException):
    return retry_policy().evaluate(exception=exc, try_number=1, max_tries=RETRIES)


def _raised(exc: BaseException, cause: BaseException | None = None, implicit: bool = False) -> BaseException:
    """``exc`` as Python leaves it after ``raise exc from cause`` (or, ``implicit``, raised inside ``except``)."""
    try:
        if implicit and cause is not None:
            try:
                raise cause
            except BaseException:
                raise exc  # noqa: B904 - the implicit __context__ is the point
        raise exc from cause
    except BaseException as caught:
        return caught


@pytest.mark.parametrize(
    "error",
    [
        SpecError("bad", path="x.yaml"),
        DataContractError("broken"),
        StaleDataError("old"),
        GpuUnavailableError("no gpu"),
        _raised(DataContractError("broken"), ConnectionError("x")),
    ],
    ids=["spec", "contract", "stale", "gpu", "contract-caused-by-connection"],
)
def test_deterministic_failures_fail_at_once(error) -> None:
    decision = _decide(error)
    assert decision.action == RetryAction.FAIL
    assert "deterministic" in decision.reason


def test_artifact_integrity_fails_at_once() -> None:
    from retrain.tracking.registry import ArtifactIntegrityError

    assert _decide(ArtifactIntegrityError("sha mismatch")).action == RetryAction.FAIL


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(111, "Connection refused"),
        ConnectionResetError(),
        TimeoutError("timed out"),
        _raised(RuntimeError("wrapped"), ConnectionError("down")),
        _raised(KeyError("while handling"), ConnectionResetError(), implicit=True),
    ],
    ids=["refused", "reset", "timeout", "cause", "context"],
)
def test_connection_errors_retry(error) -> None:
    decision = _decide(error)
    assert decision.action == RetryAction.RETRY and "connection" in decision.reason


def test_requests_and_urllib3_connection_errors_retry() -> None:
    import requests
    import urllib3

    assert _decide(requests.exceptions.ConnectionError("x")).action == RetryAction.RETRY
    assert _decide(requests.exceptions.ReadTimeout("x")).action == RetryAction.RETRY
    assert _decide(urllib3.exceptions.MaxRetryError(None, "/x")).action == RetryAction.RETRY


def test_mlflow_server_unreachable_retries(monkeypatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    from mlflow import MlflowClient

    with pytest.raises(Exception) as caught:
        MlflowClient(tracking_uri="http://127.0.0.1:9").search_experiments()  # port 9: discard, closed
    decision = _decide(caught.value)
    assert decision.action == RetryAction.RETRY
    assert decision.reason.startswith("transient: MLflow tracking server unavailable")


def test_mlflow_unavailable_answers_retry_but_other_mlflow_errors_take_the_default() -> None:
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST, TEMPORARILY_UNAVAILABLE

    busy = MlflowException("API request to endpoint /api/2.0/mlflow/runs/get failed with error code 503 != 200")
    assert _decide(busy).action == RetryAction.RETRY
    assert _decide(MlflowException("down", error_code=TEMPORARILY_UNAVAILABLE)).action == RetryAction.RETRY
    missing = MlflowException("Run 'abc' not found", error_code=RESOURCE_DOES_NOT_EXIST)
    assert _decide(missing).action == RetryAction.DEFAULT


def test_mlflow_refusing_the_request_itself_fails_at_once() -> None:
    """What ``mlflow.pyfunc.save_model`` raises for an input example its signature refuses: retrying the same
    training three times (minutes of GPU each) could only refuse it again."""
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import BAD_REQUEST

    refused = MlflowException.invalid_parameter_value("Input example does not match the model signature.")
    assert _decide(refused).action == RetryAction.FAIL
    assert "refused the request" in _decide(refused).reason
    assert _decide(_raised(RuntimeError("train failed"), refused)).action == RetryAction.FAIL
    assert _decide(MlflowException("too long", error_code=BAD_REQUEST)).action == RetryAction.FAIL


def test_cuda_out_of_memory_retries() -> None:
    import torch

    decision = _decide(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert decision.action == RetryAction.RETRY and "CUDA out of memory" in decision.reason


def test_unknown_errors_get_the_standard_retries() -> None:
    assert _decide(ValueError("x")).action == RetryAction.DEFAULT
    assert _decide(KeyError("x")).action == RetryAction.DEFAULT


def test_task_args_keep_three_retries_with_capped_exponential_backoff(monkeypatch) -> None:
    monkeypatch.setenv("RETRAIN_RETRY_DELAY_SECONDS", "30")
    monkeypatch.setenv("RETRAIN_MAX_RETRY_DELAY_SECONDS", "600")
    args = default_task_args()
    assert args["retries"] == 3
    assert args["retry_delay"] == timedelta(seconds=30)
    assert args["retry_exponential_backoff"] == 2.0
    assert args["max_retry_delay"] == timedelta(seconds=600)
    assert args["retry_policy"] is not None


def test_building_the_policy_imports_no_heavy_library() -> None:
    code = (
        "import sys\n"
        "from retrain.orchestration.retries import retry_policy\n"
        "p = retry_policy()\n"
        "p.evaluate(exception=ValueError('x'), try_number=1, max_tries=3)\n"
        "print(sorted(m for m in ('torch', 'mlflow', 'requests', 'urllib3') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_exception_chain_stops_on_cycles() -> None:
    a, b = ValueError("a"), ValueError("b")
    a.__cause__, b.__cause__ = b, a
    assert list(exception_chain(a)) == [a, b]


def test_every_pipeline_task_documents_its_failures() -> None:
    from retrain.config import load_spec
    from retrain.orchestration.dag_factory import build_dag

    from tests.retrain.alerts.test_deadline import SPEC

    dag = build_dag(load_spec(SPEC))
    assert set(dag.task_dict) == set(TASK_FAILURES)
    for task_id, task in dag.task_dict.items():
        assert task.doc_md.startswith(task_doc(task_id))
        assert "Fails at once (deterministic, not retried)" in task.doc_md
        assert "Retried (transient)" in task.doc_md
    assert "CUDA out of memory" in dag.task_dict["train"].doc_md
    assert "batch-size reduction is not implemented" in dag.task_dict["train"].doc_md
    assert "DataContractError" in dag.task_dict["validate_data"].doc_md
    assert "StaleDataError" in dag.task_dict["check_freshness"].doc_md


def test_a_fan_out_report_of_failed_segments_is_not_retried() -> None:
    from retrain.pipeline.segment_stage import SegmentFailures

    decision = _decide(SegmentFailures("2 of 40 segments failed: de: ConnectionError: x"))
    assert decision.action == RetryAction.FAIL and "outcomes are recorded" in decision.reason
