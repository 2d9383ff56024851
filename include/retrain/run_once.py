"""`retrain run <model>`: run one model's DAG once, in this process's embedded environment.

Underneath is ``airflow dags test`` (every task of the real DAG, the same task code the scheduler runs, in
one process), with the trigger form's values as the run's conf. It prints what the run logged and decided,
and it says so when the run did nothing (every task skipped, or no task at all) instead of reporting green.
Interrupted (Ctrl-C, SIGTERM), it stops the run and marks it and its unfinished tasks failed, so nothing is
left ``running``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from retrain.training.metrics import HEADLINE_METRICS

if TYPE_CHECKING:
    from retrain.config import LoadedSpec, ModelSpec

FINISHED_OK = {"success", "skipped"}


def embedded_environment(project_root: Path) -> dict[str, str]:
    """The Makefile's embedded defaults, for a shell that did not come through `make`."""
    env = dict(os.environ)
    local = Path(env.setdefault("RETRAIN_LOCAL_STATE", str(project_root / ".local")))
    env.setdefault("AIRFLOW_HOME", str(project_root / ".airflow"))
    env.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(project_root / "dags"))
    env.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(project_root / "plugins"))
    env.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    env.setdefault("AIRFLOW__CORE__EXECUTOR", "LocalExecutor")
    env.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{local / 'mlflow' / 'mlflow.db'}")
    return env


def run_conf(as_of: date | None, wait_minutes: float | None, promote: str | None = None,
             epochs: int | None = None) -> dict:
    conf: dict = {}
    if as_of is not None:
        conf["as_of"] = as_of.isoformat()
    # run by hand, a run never waits for data unless asked (a scheduled run waits freshness.wait_minutes)
    conf["wait_minutes"] = 0.0 if wait_minutes is None else wait_minutes
    if promote:
        conf["promote"] = promote
    if epochs:
        conf["epochs"] = epochs
    return conf


def did_nothing(states: dict[str, str]) -> str | None:
    """Why a finished run counts as having done nothing, or None when it trained (or failed visibly)."""
    if not states:
        return "no task ran at all (no task instance was created for this run)"
    trained = "success" in (states.get("train"), states.get("train_chunk"))  # a single or a segment model
    if not trained and all(s in FINISHED_OK for s in states.values()):
        why = "check_freshness skipped the run (see its log)" if states.get("check_freshness") == "skipped" else (
            "every task was skipped")
        return f"nothing was trained: {why}"
    return None


def model_spec(model: str, specs_dir: Path) -> tuple[ModelSpec | None, str | None]:
    """The spec `retrain run <model>` runs, or why it cannot start (a broken or missing spec), said before
    Airflow starts."""
    loaded, why = loaded_model_spec(model, specs_dir)
    return (loaded.spec if loaded else None), why


def loaded_model_spec(model: str, specs_dir: Path) -> tuple[LoadedSpec | None, str | None]:
    """``model_spec`` with its file: the spec a command acts on, or why there is none."""
    from retrain.config import BrokenSpec, discover_specs

    found = discover_specs(specs_dir)
    dag_id = f"retrain_{model}"
    for item in found:
        if isinstance(item, BrokenSpec) and dag_id in (item.dag_id, f"retrain_{item.declared_name}"):
            return None, str(item.error)
        if not isinstance(item, BrokenSpec) and item.spec.dag_id == dag_id:
            return item, None
    names = ", ".join(sorted(item.spec.name for item in found if not isinstance(item, BrokenSpec))) or "none"
    return None, f"no spec in {specs_dir} names the model {model!r} (models there: {names})"


def stale_data_hint(spec: ModelSpec) -> str | None:
    """When the data there is older than the window a run for now reads: the ``--as-of`` that trains on it (an
    ``--as-of`` date includes its own partition)."""
    from retrain.data.landing import list_complete_partitions
    from retrain.settings import get_settings

    data = spec.data
    found = list_complete_partitions(get_settings().resolve_data_path(data.location), data.partition_prefix,
                                     data.completion_marker)
    if not found or (datetime.now(UTC).date() - found[-1].day).days <= data.training_window_days:
        return None
    newest = found[-1].day
    return (f"the newest complete partition is {newest}, older than the {data.training_window_days}-day window "
            f"that ends now; `retrain run {spec.name} --as-of {newest}` trains on the {data.training_window_days} "
            f"days that end with it")


_SEGMENTS_FAILED = "retrain.pipeline.segment_stage.SegmentFailures: "


def failure_reasons(log_text: str) -> list[str]:
    """The one-line errors the run's alerts gave in the task log (``Error: ...``), each once, in order; when the
    alerts went elsewhere (Slack), the last lines of the tracebacks of the product's own errors."""
    lines = [line.strip() for line in log_text.splitlines()]
    alerted = [line for line in lines if line.startswith("Error: ")]
    raised = [f"Error: {line.removeprefix('retrain.errors.').removeprefix('retrain.pipeline.segment_stage.')}"
              for line in lines if line.startswith(("retrain.errors.", _SEGMENTS_FAILED))]
    return list(dict.fromkeys(alerted or raised))


def _airflow(env: dict, *args: str) -> subprocess.CompletedProcess:
    command = [str(Path(sys.executable).parent / "airflow"), *args]
    return subprocess.run(command, capture_output=True, text=True, check=False, env=env)


MIGRATED_MARKER = "retrain-migrated.json"


def _embedded_sqlite(env: dict) -> Path | None:
    """The embedded default's SQLite database, or None when the environment or airflow.cfg names another."""
    import configparser

    home = Path(env["AIRFLOW_HOME"])
    default = f"sqlite:///{home / 'airflow.db'}"
    configured = env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN")
    if configured is None and (home / "airflow.cfg").exists():
        cfg = configparser.ConfigParser(interpolation=None)
        try:
            cfg.read(home / "airflow.cfg")
            configured = cfg.get("database", "sql_alchemy_conn", fallback=None)
        except configparser.Error:
            return None
    return home / "airflow.db" if configured in (None, "", default) else None


def _revision(db: Path) -> str | None:
    import contextlib
    import sqlite3

    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error:
        return None
    return row[0] if row else None


def _migrated_state(db: Path) -> dict:
    """What the marker records: this Airflow release and the database's revision."""
    from importlib.metadata import version

    return {"airflow": version("apache-airflow-core"), "revision": _revision(db)}


def needs_migration(env: dict) -> bool:
    """False only when this Airflow release already migrated the embedded SQLite database: a marker beside it
    records the release and the database's revision after the last migrate. Any other database, a new
    release or a changed revision needs ``airflow db migrate`` (3-7 s of the CLI starting)."""
    db = _embedded_sqlite(env)
    if db is None or not db.exists():
        return True
    try:
        recorded = json.loads((Path(env["AIRFLOW_HOME"]) / MIGRATED_MARKER).read_text())
    except (OSError, ValueError):
        return True
    now = _migrated_state(db)
    return not now["revision"] or recorded != now


def migrate(env: dict) -> subprocess.CompletedProcess | None:
    """``airflow db migrate`` when ``needs_migration``, else None; records the marker after a migrate."""
    if not needs_migration(env):
        return None
    migrated = _airflow(env, "db", "migrate")
    db = _embedded_sqlite(env)
    if migrated.returncode == 0 and db is not None:
        (Path(env["AIRFLOW_HOME"]) / MIGRATED_MARKER).write_text(json.dumps(_migrated_state(db)))
    return migrated


def run_and_task_states(dag_id: str, logical: datetime) -> tuple[str | None, dict[str, str]]:
    """The run of ``dag_id`` at ``logical`` and each of its tasks' state, read from the metadata database
    this CLI shares (in this process: the ``airflow`` CLI would start twice, about 3 s each)."""
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        run = session.query(DagRun).filter(DagRun.dag_id == dag_id, DagRun.logical_date == logical).one_or_none()
        if run is None:
            return None, {}
        tasks = session.query(TaskInstance).filter(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run.run_id)
        return run.run_id, {ti.task_id: str(ti.state or "none") for ti in tasks}


def fail_leftovers(dag_id: str, logical: datetime) -> int:
    """Mark an interrupted run and its unfinished tasks failed (in the metadata DB this CLI shares)."""
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState, TaskInstanceState

    finished = {s.value for s in TaskInstanceState if s.value in {"success", "failed", "skipped", "upstream_failed",
                                                                   "removed"}}
    changed = 0
    with create_session() as session:
        for run in session.query(DagRun).filter(DagRun.dag_id == dag_id, DagRun.logical_date == logical):
            for ti in session.query(TaskInstance).filter(TaskInstance.dag_id == dag_id,
                                                         TaskInstance.run_id == run.run_id):
                if ti.state not in finished:
                    ti.state = TaskInstanceState.FAILED
                    changed += 1
            if run.state != DagRunState.SUCCESS:
                run.state = DagRunState.FAILED
                changed += 1
    return changed


def print_summary(model_name: str, dag_id: str, started_ms: int) -> tuple[bool, str | None]:
    from retrain.settings import get_settings
    from retrain.tracking import mlflow_store
    from retrain.tracking.tags import DATA_WARNINGS, EVALUATION_NOTE, TRAINING_NOTE

    client = mlflow_store.connect(get_settings())
    experiment = client.get_experiment_by_name(model_name)
    runs = []
    if experiment is not None:
        runs = client.search_runs(
            [experiment.experiment_id],
            f"tags.`airflow.dag_id` = '{dag_id}' and attributes.start_time >= {started_ms}",
            max_results=1,
            order_by=["attributes.start_time DESC"],
        )
    if not runs:
        print("No MLflow run was logged by this DAG run.")
        return False, None
    run = runs[0]
    metrics, tags = run.data.metrics, run.data.tags
    airflow_run_id = tags.get("airflow.run_id")
    print(f"\nAirflow run:   {airflow_run_id}")
    print(f"MLflow run:    {run.info.run_id}")
    names = HEADLINE_METRICS
    heads = sorted({key.split(".")[0] for key in metrics if key.count(".") == 1 and key.split(".")[1] in names})
    for head in heads:
        shown = {m: metrics.get(f"{head}.{m}") for m in names}
        candidate = ", ".join(f"{m}={v:.4f}" for m, v in shown.items() if v is not None)
        champion = {m: metrics.get(f"champion.{head}.{m}") for m in shown}
        against = ", ".join(f"{m}={v:.4f}" for m, v in champion.items() if v is not None)
        labeled = metrics.get(f"{head}.labeled_rows")  # some holdout rows had no label for this head
        judged_on = f"   (on the {int(labeled):,} holdout rows with its label)" if labeled is not None else ""
        print(f"  head {head:<6} {candidate}" + (f"   (champion: {against})" if against else "") + judged_on)
    print(f"Gate decision: {tags.get('retrain.gate_decision', 'none')}: {printable(tags.get('retrain.gate_reasons', ''))}")
    for note in (tags.get(TRAINING_NOTE), tags.get(EVALUATION_NOTE)):
        if note:
            print(f"Note:          {printable(note)}")
    for line in _json_list(tags.get(DATA_WARNINGS)):
        print(f"Data warning:  {printable(line)}")
    champion = mlflow_store.champion_version(client, model_name)
    print(f"Champion:      {model_name} version {champion.version if champion else 'none'}")
    return tags.get("retrain.gate_decision") in {"promote", "reject"}, airflow_run_id


def printable(value: object) -> str:
    """Free text (an approver's note, a data value in a warning, a tag anyone with registry access can write)
    as the terminal should show it: control characters escaped (``\\x1b``, ``\\n``), never executed."""
    text = str(value)
    return text if text.isprintable() else "".join(
        c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def log_tail(log_text: str, lines: int = 40) -> str:
    """The last ``lines`` of a run's log as the terminal should show them (``printable``: an error may quote a
    data value)."""
    return "\n".join(printable(line) for line in log_text.splitlines()[-lines:])


def _json_list(text: str | None) -> list[str]:
    try:
        value = json.loads(text or "[]")
    except json.JSONDecodeError:  # cut at the tag's length limit
        return [text or ""]
    return [str(item) for item in value] if isinstance(value, list) else [str(value)]


def print_segment_summary(model: str, dag_id: str, started_ms: int) -> bool:
    """A segment DAG's runs (one per segment, in experiment ``<model>__segments``): what each gate decided."""
    from collections import Counter

    from retrain.settings import get_settings
    from retrain.tracking import mlflow_store, tags

    client = mlflow_store.connect(get_settings())
    experiment = client.get_experiment_by_name(f"{model}__segments")
    runs = [] if experiment is None else client.search_runs(
        [experiment.experiment_id], f"tags.`airflow.dag_id` = '{dag_id}' and attributes.start_time >= {started_ms}")
    decisions = Counter(r.data.tags.get("retrain.gate_decision", "none") for r in runs)
    held = sum(1 for r in runs if r.data.tags.get("retrain.promotion", "").startswith("held"))
    print(f"\nSegments:      {len(runs)} trained; gate decisions: "
          + (", ".join(f"{d} {n}" for d, n in sorted(decisions.items())) or "none")
          + (f"; {held} held (promote=never)" if held else ""))
    rejected = sorted((_segment_of(r), r.data.tags.get("retrain.gate_reasons", "")) for r in runs
                      if r.data.tags.get(tags.GATE_DECISION) == "reject")
    for value, why in rejected[:3]:
        print(f"  rejected {printable(value)}: {printable(why[:400])}")
    if len(rejected) > 3:
        print(f"  and {len(rejected) - 3} more rejected (retrain leaderboard {model} --segment VALUE)")
    warned = next((r.data.tags[tags.DATA_WARNINGS] for r in runs if tags.DATA_WARNINGS in r.data.tags), None)
    for line in _json_list(warned):
        print(f"Data warning:  {printable(line)}")
    noted = sorted((_segment_of(r), r.data.tags[tags.TRAINING_NOTE]) for r in runs if tags.TRAINING_NOTE in r.data.tags)
    if noted:
        print(f"Note:          {len(noted)} of {len(runs)} segments took few optimizer steps, e.g. {noted[0][0]}: "
              f"{noted[0][1]}")
    too_good = sorted((_segment_of(r), r.data.tags[tags.EVALUATION_NOTE]) for r in runs
                      if tags.EVALUATION_NOTE in r.data.tags)
    if too_good:
        print(f"Note:          {len(too_good)} of {len(runs)} segments scored too well to be true, e.g. "
              f"{printable(too_good[0][0])}: {printable(too_good[0][1])}")
    return bool(runs)


def _segment_of(run) -> str:
    from retrain.tracking import tags

    return run.data.tags.get(tags.SEGMENT, "?")


STOP_GRACE_SECONDS = 5


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _fork_airflow(arguments: list[str], log_file: Path) -> int:
    """``airflow <arguments>`` in a forked child, its own session, its output in ``log_file``: the child shares
    what this process has imported (a second interpreter importing Airflow again cost 3-6 s of CPU)."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        os.setsid()  # Ctrl-C reaches this CLI only; it stops the run's whole session (_stop)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        log = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115  (whatever sys.stdout was)
        sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
        sys.argv = [str(Path(sys.executable).parent / "airflow"), *arguments]
        from airflow.__main__ import main

        main()
        code = 0
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _wait(pid: int, timeout: float | None = None) -> int | None:
    """The child's exit code (negative: the signal that ended it); None when ``timeout`` passes first."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, 0 if deadline is None else os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.1)


def _stop(pid: int) -> None:
    """SIGTERM to the run's session, SIGKILL after STOP_GRACE_SECONDS, and reap the child."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    if _wait(pid, STOP_GRACE_SECONDS) is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        _wait(pid)


def run_model(model: str, as_of: date | None = None, wait_minutes: float | None = None,
              promote: str | None = None, epochs: int | None = None) -> int:
    from retrain.settings import get_settings

    spec, problem = model_spec(model, get_settings().specs_dir)
    if spec is None:
        print(f"Cannot run {model}: {problem}")
        return 2
    os.environ.update(embedded_environment(get_settings().project_root))  # before Airflow or MLflow read it
    env = dict(os.environ)
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    migrated = migrate(env)
    if migrated is not None and migrated.returncode != 0:
        print(migrated.stdout[-3000:], migrated.stderr[-3000:])
        return 1
    dag_id = f"retrain_{model}"
    logical = datetime.now(UTC).replace(microsecond=0)
    conf = run_conf(as_of, wait_minutes, promote, epochs)
    log_file = Path(env["RETRAIN_LOCAL_STATE"]) / f"run-{model}-last.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    print(f"Running DAG {dag_id} once with `airflow dags test` (conf {json.dumps(conf)}; log: {log_file}) ...")
    started_ms = int(datetime.now(UTC).timestamp() * 1000)
    arguments = ["dags", "test", dag_id, logical.isoformat(), "-c", json.dumps(conf)]
    import airflow.models.dagrun  # noqa: F401  (once, here: the forked run shares it, the summary reads with it)

    pid = _fork_airflow(arguments, log_file)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        returncode = _wait(pid)
    except KeyboardInterrupt:
        # `airflow dags test` finishes the task it is running before it acts on SIGTERM (seen: a whole
        # training run), so a short grace and then SIGKILL: Ctrl-C means now.
        _stop(pid)
        changed = fail_leftovers(dag_id, logical)
        print(f"Interrupted: the run was stopped and marked failed ({changed} records); nothing is left running.")
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    run_id, states = run_and_task_states(dag_id, logical)
    if run_id is None:
        print(f"The DAG {dag_id} did not start a run (exit code {returncode}); the last lines of {log_file}:")
        print(log_tail(log_file.read_text()))
        return 1
    if "train_chunk" in states:  # a segment model's DAG
        ok = print_segment_summary(model, dag_id, started_ms)
    else:
        ok, _ = print_summary(model, dag_id, started_ms)
    print("Tasks:         " + ", ".join(f"{t}={s}" for t, s in states.items()))
    nothing = did_nothing(states)
    failed = sorted(t for t, s in states.items() if s not in FINISHED_OK)
    print(f"DAG run:       {run_id} (exit code {returncode})")
    if nothing:
        print(f"The run did NOTHING: {nothing}.")
        return 3
    if returncode != 0 or failed or not ok:
        log_text = log_file.read_text()
        print(f"The run did not succeed (tasks not successful: {', '.join(failed) or 'none'}); the last lines of "
              f"{log_file}:")
        print(log_tail(log_text))
        for reason in failure_reasons(log_text):
            print(f"Why: {printable(reason.removeprefix('Error: '))}")
        hint = stale_data_hint(spec) if states.get("check_freshness") == "failed" else None
        if hint and as_of is None:
            print(f"Hint: {hint}")
        return 1
    return 0
