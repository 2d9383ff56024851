"""Retries that fit the failure.

Every task retries 3 times with exponential backoff (x2 per try, capped by ``max_retry_delay``). On top of
that, an Airflow 3.3 ``ExceptionRetryPolicy`` sorts failures, first matching rule wins:

1. **Deterministic: fail at once.** ``retrain.errors.DeterministicFailure`` (an invalid spec, a broken data
   contract, stale or unreadable data, a missing required GPU), the registry's ``ArtifactIntegrityError``
   (a model version whose files differ from what training recorded) and a fan-out run's ``SegmentFailures``
   (raised by ``report`` from outcomes already recorded): the same inputs would fail again.
2. **CUDA out of memory: retry.** ``torch.OutOfMemoryError``: another process may hold GPU memory, or the
   next try lands on a freer GPU. The retry runs with the same batch size (no automatic reduction yet).
3. **MLflow server unavailable: retry.** An ``MlflowException`` caused by a connection failure or a
   timeout, or saying the server answered 5xx/429 (the REST client's "API request ... failed" errors,
   ``TEMPORARILY_UNAVAILABLE``).
4. **Connection errors: retry.** ``ConnectionError``, ``TimeoutError``, DNS failures, and the
   ``requests``/``urllib3`` connection and timeout errors, found anywhere in the exception's cause chain.
5. **MLflow refused the request: fail at once.** An ``MlflowException`` with ``INVALID_PARAMETER_VALUE``,
   ``BAD_REQUEST`` or ``MALFORMED_REQUEST`` (a model whose input example breaks its signature, a value over
   a limit): MLflow judged the request itself, so the same request fails again. Other MlflowExceptions (an
   unknown run) fall to rule 6.
6. Anything else: Airflow's standard retries, since an unknown error may be transient too.

Rules 2 to 4 say explicitly what rule 6 would do anyway; the difference is the reason Airflow logs with
the decision ("Retry policy decision ... reason=..."), which tells whoever reads the log why it retried.

None of the rules imports a heavy library: the exception classes are looked up only in modules the task
has already imported (a torch error can only come from a process that imported torch), so parsing a DAG
never imports torch, mlflow or requests.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterator
from dataclasses import dataclass

from retrain.settings import get_settings

RETRIES = 3
BACKOFF_MULTIPLIER = 2.0

DETERMINISTIC = "retrain.errors.DeterministicFailure"
ARTIFACT_INTEGRITY = "retrain.tracking.registry.ArtifactIntegrityError"
SEGMENT_FAILURES = "retrain.pipeline.segment_stage.SegmentFailures"
PROMOTION_LOCK = "retrain.tracking.registry.PromotionLockUnavailable"
CUDA_OOM = ["torch.OutOfMemoryError", "torch.cuda.OutOfMemoryError"]
CONNECTION_ERRORS = [
    "builtins.ConnectionError",  # ConnectionRefusedError, ConnectionResetError, http.client.RemoteDisconnected
    "builtins.TimeoutError",  # socket.timeout
    "socket.gaierror",  # DNS failure
    "requests.exceptions.ConnectionError",
    "requests.exceptions.Timeout",
    "urllib3.exceptions.NewConnectionError",
    "urllib3.exceptions.MaxRetryError",
    "urllib3.exceptions.ProtocolError",
    "urllib3.exceptions.TimeoutError",
]
MLFLOW_EXCEPTION = "mlflow.exceptions.MlflowException"
MLFLOW_UNAVAILABLE_CODES = frozenset({"TEMPORARILY_UNAVAILABLE", "REQUEST_LIMIT_EXCEEDED", "DEADLINE_EXCEEDED"})
MLFLOW_REFUSED_CODES = frozenset({"INVALID_PARAMETER_VALUE", "BAD_REQUEST", "MALFORMED_REQUEST"})
MLFLOW_UNAVAILABLE_MARKERS = (
    "failed with exception",  # rest_utils: the request itself failed (connection refused, retries used up)
    "failed with timeout exception",
    "too many 5",  # urllib3: "too many 503 error responses"
    "too many 429",
    "failed with error code 5",
    "failed with error code 429",
)


def exception_chain(exc: BaseException, limit: int = 20) -> Iterator[BaseException]:
    """``exc`` and what caused it (``__cause__``, else ``__context__`` unless suppressed), without cycles."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < limit:
        seen.add(id(current))
        yield current
        cause = current.__cause__
        if cause is None and not current.__suppress_context__:
            cause = current.__context__
        current = cause


def _loaded_class(path: str) -> type[BaseException] | None:
    """The exception class at ``module.Name`` if that module is already imported; never imports it."""
    module_name, _, attr = path.rpartition(".")
    module = sys.modules.get(module_name)
    obj = getattr(module, attr, None) if module is not None else None
    return obj if isinstance(obj, type) and issubclass(obj, BaseException) else None


@functools.cache
def _make_rule_classes():
    from airflow.sdk import RetryRule

    @dataclass
    class LoadedModuleRetryRule(RetryRule):
        """A RetryRule that never imports anything: classes resolve from already-imported modules only.

        Airflow's own RetryRule imports string specs at parse time (``torch.OutOfMemoryError`` would pull
        torch into every DAG parse). With ``match_chain`` it also matches when a listed exception is
        anywhere in the cause chain (an MlflowException raised while handling a ConnectionError).
        """

        match_chain: bool = False

        def __post_init__(self) -> None:
            for spec in self._specs:
                if isinstance(spec, str) and "." not in spec:
                    raise ValueError(f"RetryRule exception string must be a dotted import path, got {spec!r}")

        def _resolve_exception_classes(self) -> list[type[BaseException]]:
            classes = []
            for spec in self._specs:
                cls = spec if isinstance(spec, type) else _loaded_class(spec)
                if cls is not None:
                    classes.append(cls)
            return classes

        def _matches_one(self, exc: BaseException, classes: tuple[type[BaseException], ...]) -> bool:
            if self.match_subclasses:
                return isinstance(exc, classes)
            return type(exc) in classes

        def matches(self, exc: BaseException) -> bool:
            classes = tuple(self._resolve_exception_classes())
            if not classes:
                return False
            candidates = exception_chain(exc) if self.match_chain else iter([exc])
            return any(self._matches_one(e, classes) for e in candidates)

    @dataclass
    class MlflowUnavailableRule(LoadedModuleRetryRule):
        """An MlflowException saying the tracking server could not be reached or answered 5xx/429.

        MlflowException also reports deterministic problems (an unknown run id, an invalid parameter), so
        the class alone is not enough: it must be caused by a connection error, carry an availability
        error code, or be the REST client's "API request ... failed" message.
        """

        def matches(self, exc: BaseException) -> bool:
            classes = tuple(self._resolve_exception_classes())
            if not classes:
                return False
            connection = LoadedModuleRetryRule(exception=list(CONNECTION_ERRORS), match_chain=True)
            return any(
                isinstance(error, classes)
                and (
                    connection.matches(error)
                    or str(getattr(error, "error_code", "")) in MLFLOW_UNAVAILABLE_CODES
                    or _says_unavailable(error)
                )
                for error in exception_chain(exc)
            )

    @dataclass
    class MlflowRefusedRule(LoadedModuleRetryRule):
        """An MlflowException whose error code says the request itself was wrong (see the module's rule 5)."""

        def matches(self, exc: BaseException) -> bool:
            classes = tuple(self._resolve_exception_classes())
            return bool(classes) and any(isinstance(error, classes)
                                         and str(getattr(error, "error_code", "")) in MLFLOW_REFUSED_CODES
                                         for error in exception_chain(exc))

    return LoadedModuleRetryRule, MlflowUnavailableRule, MlflowRefusedRule


def _says_unavailable(error: BaseException) -> bool:
    text = str(getattr(error, "message", None) or error)
    return any(marker in text for marker in MLFLOW_UNAVAILABLE_MARKERS)


def retry_rules() -> list:
    from airflow.sdk import RetryAction, RetryRule

    LoadedModuleRetryRule, MlflowUnavailableRule, MlflowRefusedRule = _make_rule_classes()  # noqa: N806 - classes
    return [
        RetryRule(
            exception=DETERMINISTIC,
            action=RetryAction.FAIL,
            reason="deterministic failure: retrying with the same inputs cannot succeed",
        ),
        LoadedModuleRetryRule(
            exception=ARTIFACT_INTEGRITY,
            action=RetryAction.FAIL,
            reason="deterministic failure: the registered model's files do not match what training recorded",
        ),
        LoadedModuleRetryRule(
            exception=SEGMENT_FAILURES,
            action=RetryAction.FAIL,
            reason="deterministic failure: the segments' outcomes are recorded; reporting them again cannot change them",
        ),
        LoadedModuleRetryRule(
            exception=PROMOTION_LOCK,
            action=RetryAction.RETRY,
            reason="transient: the promotion lock is held (a crashed holder's lease expires), retrying with backoff",
        ),
        LoadedModuleRetryRule(
            exception=list(CUDA_OOM),
            action=RetryAction.RETRY,
            reason="transient: CUDA out of memory (GPU memory may be free on the next try; same batch size)",
        ),
        MlflowUnavailableRule(
            exception=MLFLOW_EXCEPTION,
            action=RetryAction.RETRY,
            reason="transient: MLflow tracking server unavailable, retrying with backoff",
        ),
        LoadedModuleRetryRule(
            exception=list(CONNECTION_ERRORS),
            action=RetryAction.RETRY,
            match_chain=True,
            reason="transient: connection error or timeout, retrying with backoff",
        ),
        MlflowRefusedRule(
            exception=MLFLOW_EXCEPTION,
            action=RetryAction.FAIL,
            reason="deterministic failure: MLflow refused the request itself (invalid parameter or bad request)",
        ),
    ]


def retry_policy():
    from airflow.sdk import ExceptionRetryPolicy

    return ExceptionRetryPolicy(rules=retry_rules())


def default_task_args() -> dict:
    settings = get_settings()
    return {
        # A run under way finishes before the next run's first task starts: later tasks outrank earlier ones.
        # Airflow's default ("downstream") runs every run's first task first; 1,000 runs triggered together
        # then had none finished after 10 minutes (docs/benchmarks.md, spec DAGs on a real scheduler).
        "weight_rule": "upstream",
        "retries": RETRIES,
        "retry_delay": settings.retry_delay,
        "retry_exponential_backoff": BACKOFF_MULTIPLIER,
        "max_retry_delay": settings.max_retry_delay,
        "retry_policy": retry_policy(),
        "execution_timeout": settings.task_timeout,  # training tasks: resources.train_task_kwargs
    }


# -- per-task documentation (shown as each task's doc_md in the Airflow UI) ----------------------------------

_RETRY_NOTE = (
    "Retries: 3, exponential backoff (x2) from `RETRAIN_RETRY_DELAY_SECONDS` (60 s) up to "
    "`RETRAIN_MAX_RETRY_DELAY_SECONDS` (30 min). Failure alert to the model's Slack channel once, when the "
    "task finally fails (after the last retry, or at once for a deterministic failure)."
)

TASK_FAILURES: dict[str, tuple[str, list[str], list[str]]] = {
    "check_freshness": (
        "Selects the complete day partitions of the training window ending at the data interval end.",
        [
            "`StaleDataError`: no complete partition in the window, the newest is older than `max_age_hours`, "
            "empty, or has fewer than `min_rows` rows (Slack: stale-data message with the newest partition "
            "and the allowed age)",
            "`DataReadError`: a partition's parquet footer cannot be read",
        ],
        ["I/O and connection errors reading the landing zone (a flaky network mount)"],
    ),
    "validate_data": (
        "Runs the spec's GX expectation suite on the snapshot.",
        [
            "`DataContractError`: a blocking expectation failed (Slack: contract message naming expectations, "
            "columns and partition)",
            "`SpecError`: the suite file is missing or invalid",
            "`DataReadError`: unreadable or schema-incompatible partitions",
        ],
        ["I/O and connection errors reading the data"],
    ),
    "train": (
        "Trains the candidate and logs it to MLflow (a retry in the same Airflow run reuses the MLflow run).",
        [
            "`GpuUnavailableError`: the spec requires a GPU (`training.device: cuda`) and the worker has none",
            "`DataReadError`: the snapshot's files cannot be read",
            "an `MlflowException` refusing the request (`INVALID_PARAMETER_VALUE`, `BAD_REQUEST`)",
        ],
        [
            "MLflow tracking server unavailable (connection refused, timeout, HTTP 5xx/429)",
            "connection errors and timeouts",
            "CUDA out of memory (`torch.OutOfMemoryError`): retried with the same batch size; automatic "
            "batch-size reduction is not implemented",
        ],
    ),
    "evaluate": (
        "Registers the challenger and scores it and the champion on the same holdout.",
        ["`DataReadError`: the holdout rows cannot be read",
         "`ArtifactIntegrityError`: the candidate's files differ from the sha256 recorded at training "
         "(an unusable champion is not a failure: it counts as no champion and Slack is told)"],
        ["MLflow tracking server unavailable", "connection errors and timeouts", "CUDA out of memory"],
    ),
    "gate": (
        "Applies the spec's thresholds and no-regression rules; records the decision in MLflow.",
        [],
        ["MLflow tracking server unavailable", "connection errors and timeouts"],
    ),
    "decide": ("Branches to `promote`, `reject` or `approve_promotion` from the gate's decision and the "
               "run's `promote` param.", [], []),
    "approve_promotion": (
        "Asks a person in the UI (Required actions) to approve the promotion; Slack gets the link. Approve: "
        "`promote`; Reject or no answer within `gate.approval_timeout_hours`: `reject`. Records who, when, why.",
        [],
        ["MLflow tracking server unavailable while recording the decision", "connection errors and timeouts"],
    ),
    "announce_champion": (
        "Emits the champion Asset event (`mlflow-model://<name>`, version and run id in `extra`) after a "
        "promotion; skipped when the champion did not move.",
        [],
        [],
    ),
    "promote": (
        "Verifies the challenger's files and moves the `champion` alias to it (check-and-set).",
        [
            "`ArtifactIntegrityError`: the version's files differ from the sha256 recorded at training",
            "a champion moved by another run meanwhile is not a failure: the candidate is rejected instead",
        ],
        ["promotion lock held by another promoter (a crashed one's lease expires); alerts when retries run out",
         "MLflow tracking server unavailable", "connection errors and timeouts"],
    ),
    "reject": (
        "Leaves the champion where it is and writes the model card with the reasons.",
        [],
        ["MLflow tracking server unavailable", "connection errors and timeouts"],
    ),
    "notify": (
        "Posts the promotion decision (or the rejection's reasons) to the model's Slack channel; one digest "
        "for a fan-out run. Never fails because of Slack: delivery retries are bounded (about two minutes at "
        "worst), and an undelivered message waits in the Slack outbox and is resent with the next alert.",
        [],
        [],
    ),
}


def task_doc(task_id: str) -> str:
    """Markdown for a task's ``doc_md``: what it does and which failures fail at once or are retried."""
    summary, deterministic, transient = TASK_FAILURES.get(task_id, ("", [], []))
    lines = [f"### {task_id}", "", summary, ""]
    lines.append("**Fails at once (deterministic, not retried):**")
    lines += [f"- {item}" for item in deterministic] or ["- none specific to this task"]
    lines += ["- any `DeterministicFailure` (e.g. an invalid spec)", ""]
    lines.append("**Retried (transient):**")
    lines += [f"- {item}" for item in transient] or ["- none specific to this task"]
    lines += ["- any other error (unknown errors get the standard retries)", "", _RETRY_NOTE]
    return "\n".join(lines) + "\n"
