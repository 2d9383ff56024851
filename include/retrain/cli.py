"""`retrain`: the registry from a terminal.

    retrain run <model> [--as-of DATE] [--wait-minutes N] run the model's DAG once, print what happened
    retrain score <model>                                score the newest partition with the champion, now
    retrain history <model> [--segment VALUE]            every champion move and approval: when, who, why
    retrain rollback <model> [--to VERSION] --reason ..  move the champion back, and record it
    retrain reproduce <mlflow-run-id>                    train again from a run's manifest, compare metrics
    retrain costs [--since DATE] [--model NAME]          cost and GPU-hours per model and day, share rejected
    retrain leaderboard <model> [--metric HEAD.METRIC]   gated runs ranked by the gate's metric, with cost
    retrain dag-shards [--shards N] [--dags-dir DIR]     split the model DAGs over N DAG files

They talk to the MLflow store named by MLFLOW_TRACKING_URI (the embedded default without it). A spec with
`segments:` has one model per value: history, rollback and leaderboard take `--segment VALUE`, the value as
it is in the data.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from datetime import date


def _client():
    from retrain.settings import get_settings
    from retrain.tracking import mlflow_store

    return mlflow_store.connect(get_settings())


def _spec_named(model: str):
    from retrain.run_once import model_spec
    from retrain.settings import get_settings

    return model_spec(model, get_settings().specs_dir)[0]


def _is_registered(client, name: str) -> bool:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException:
        return False
    return True


def _model_name(client, args: argparse.Namespace) -> str:
    """The registered model a command acts on: the name given, or with ``--segment`` that segment's model
    (``<spec>__<value>``, hashed where the value holds characters MLflow names refuse)."""
    from retrain.errors import RetrainError
    from retrain.pipeline.segment_stage import registered_name

    segment = args.segment
    if segment is None and _is_registered(client, args.model):
        return args.model
    spec = _spec_named(args.model)
    if segment is None:
        if spec is not None and spec.segments is not None:
            raise RetrainError(_pick_a_segment(client, spec, args.command))
        return args.model  # MLflow's own "not found" names it
    if spec is None or spec.segments is None:
        raise RetrainError(f"--segment: {args.model!r} has no segments" if spec else
                           f"--segment: no spec names the model {args.model!r}")
    name = registered_name(spec, segment)
    if not _is_registered(client, name):
        raise RetrainError(f"no model for segment {segment!r} of {args.model!r} (registered as {name!r}): no run "
                           f"has trained that segment yet")
    return name


def _pick_a_segment(client, spec, command: str) -> str:
    from retrain.tracking.registry import LOCK_SUFFIX

    prefix = f"{spec.name}__"
    found = [m.name for m in client.search_registered_models(f"name LIKE '{spec.name}%'", max_results=1000)
             if m.name.startswith(prefix) and not m.name.endswith(LOCK_SUFFIX)]
    shown = ", ".join(name.removeprefix(prefix) for name in sorted(found)[:10]) + (", ..." if len(found) > 10 else "")
    return (f"{spec.name!r} trains one model per value of {spec.segments.column!r}: name one with "
            f"`retrain {command} {spec.name} --segment VALUE` (the value as it is in the data). "
            f"{len(found)}{'+' if len(found) == 1000 else ''} segment models so far: {shown or 'none'}")


def cmd_history(args: argparse.Namespace) -> int:
    from retrain.tracking.registry import history, outside_move, promotion_lock, record_outside_move

    client = _client()
    args.model = _model_name(client, args)
    if outside_move(client, args.model) is not None:  # recorded, so the history tells the whole story
        with promotion_lock(client, args.model, f"cli:{getpass.getuser()}"):
            record_outside_move(client, args.model)
    moves = history(client, args.model)
    if args.json:
        print(json.dumps([m.__dict__ for m in moves], indent=2))
        return 0
    if not moves:
        print(f"{args.model}: no champion moves recorded yet")
    from retrain.run_once import printable

    for m in moves:
        print(f"{m.at}  {m.alias}: {m.from_version or '-'} -> {m.to_version}  by {printable(m.actor)}  "
              f"({printable(m.reason)})")
    _print_approvals(args.model)
    return 0


def _print_approvals(model: str) -> None:
    from retrain.pipeline.approval import approvals_from_versions
    from retrain.run_once import printable

    approvals = approvals_from_versions(_client().search_model_versions(f"name = '{model}'"))
    if approvals:
        print("Approval decisions:")
    for a in approvals:
        print(f"{a.get('at')}  version {a['version']} {a.get('decision')} by {printable(a.get('by'))}  "
              f"({printable(a.get('reason'))})")


def cmd_run(args: argparse.Namespace) -> int:
    from retrain.run_once import run_model

    return run_model(args.model, as_of=args.as_of, wait_minutes=args.wait_minutes, promote=args.promote,
                     epochs=args.epochs)


def cmd_rollback(args: argparse.Namespace) -> int:
    from retrain.orchestration.champion_asset import announce_rollback
    from retrain.tracking.registry import rollback

    client = _client()
    args.model = _model_name(client, args)
    move = rollback(client, args.model, to_version=args.to, actor=f"cli:{getpass.getuser()}", reason=args.reason)
    if move is None:
        print(f"{args.model}: version {args.to or 'previous-champion'} is already the champion; nothing changed")
        return 0
    print(f"{args.model}: champion moved back from version {move.from_version} to {move.to_version}")
    run_id = client.get_model_version(args.model, move.to_version).run_id
    try:
        run_tags = client.get_run(run_id).data.tags if run_id else {}
        event = announce_rollback(args.model, move.to_version, move.from_version, run_id, run_tags)
    except Exception as exc:  # the rollback itself is done and recorded; say what did not happen
        print(f"warning: the champion Asset event was not posted to Airflow: {exc}", file=sys.stderr)
        return 0
    print("champion Asset event posted to Airflow" if event else
          "no Airflow credentials (AIRFLOW_TOKEN or AIRFLOW_PASSWORD): no champion Asset event posted")
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    from retrain.pipeline.reproduce import reproduce

    result = reproduce(_client(), args.run_id)
    for line in result.report():
        print(line)
    return 0 if result.matches else 1


def cmd_costs(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from retrain.tracking.costs import cost_report, format_cost_report

    rows = cost_report(_client(), since=args.since, model=args.model)
    if args.json:
        print(json.dumps([{**asdict(r), "rejected_share": r.rejected_share} for r in rows], indent=2))
        return 0
    print(format_cost_report(rows))
    return 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from retrain.errors import RetrainError
    from retrain.tracking.costs import default_metric, format_leaderboard, leaderboard, log_leaderboard

    spec = _spec_named(args.model)
    if args.metric is None and spec is None:
        raise RetrainError(f"no spec named {args.model!r} to take the gate's metric from; pass --metric head.metric")
    metric = args.metric or default_metric(spec)
    client = _client()
    if args.segment is None and spec is not None and spec.segments is not None:
        raise RetrainError(_pick_a_segment(client, spec, args.command))
    rows = leaderboard(client, args.model, metric, args.segment)
    if args.json:
        print(json.dumps([asdict(r) for r in rows], indent=2))
    else:
        print(format_leaderboard(rows, metric))
    if rows and not args.no_plot:
        run_id = log_leaderboard(client, args.model, metric, rows, args.segment)
        print(f"plot ({metric} against cost) logged to MLflow run {run_id}: leaderboard/metric_vs_cost.png",
              file=sys.stderr)
    return 0


def cmd_dag_shards(args: argparse.Namespace) -> int:
    from pathlib import Path

    from retrain.orchestration.parsing import write_shard_files
    from retrain.settings import get_settings

    settings = get_settings()
    shards = args.shards or settings.parse_shards
    written = write_shard_files(Path(args.dags_dir or settings.project_root / "dags"), shards)
    print(f"{shards} shard(s): retrain_models.py and {len(written)} copies; set RETRAIN_PARSE_SHARDS={shards} "
          "for the dag-processor and the workers")
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    """What ``score_<model>`` does, in this process: the newest partition checked and scored with the champion."""
    from retrain.pipeline.scoring_stage import score_newest_partition
    from retrain.run_once import loaded_model_spec, printable
    from retrain.settings import get_settings

    loaded, why = loaded_model_spec(args.model, get_settings().specs_dir)
    if loaded is None:
        print(f"retrain score: {why}", file=sys.stderr)
        return 2
    landed = score_newest_partition(loaded)
    if landed is None:
        print(f"Scored NOTHING: {args.model} has no champion yet (`retrain run {args.model}` trains one)")
        return 3
    by = (f"{loaded.spec.registered_model_name} version {landed['champion_version']}" if "segments_scored" not in landed
          else f"the champions of {landed['segments_scored']} segments ({landed['rows_unscored']:,} rows of segments "
               "without one land unscored)")
    print(printable(f"Scored {landed['input']} ({landed['rows']:,} rows) with {by}"))
    print(printable(f"Predictions: {landed['predictions']}"))
    return 0


_SEGMENT_HELP = "a segmented spec's segment, the value as it is in the data (e.g. Berlin)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="retrain", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="run one model's DAG once (airflow dags test) and print what happened")
    p.add_argument("model", help="the spec's name, e.g. ecommerce_esmm")
    p.add_argument("--as-of", type=date.fromisoformat, help="train as of this date, YYYY-MM-DD (default: now)")
    p.add_argument("--wait-minutes", type=float, help="wait this long for late data (default: 0 with --as-of, "
                   "else the spec's data.freshness.wait_minutes)")
    p.add_argument("--promote", choices=["auto", "never", "approval"], help="as in the trigger form")
    p.add_argument("--epochs", type=int, help="override training.epochs for this run")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("score", help="score the newest partition with the champion now (what score_<model> does)")
    p.add_argument("model", help="a spec with a scoring: section")
    p.set_defaults(func=cmd_score)
    p = sub.add_parser("history", help="print the champion history of a model")
    p.add_argument("model")
    p.add_argument("--segment", help=_SEGMENT_HELP)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_history)
    p = sub.add_parser("rollback", help="move the champion back")
    p.add_argument("model")
    p.add_argument("--segment", help=_SEGMENT_HELP)
    p.add_argument("--to", help="version to make champion (default: the previous champion)")
    p.add_argument("--reason", required=True, help="why; recorded in the history")
    p.set_defaults(func=cmd_rollback)
    p = sub.add_parser("reproduce", help="re-run training from a run's manifest and compare metrics")
    p.add_argument("run_id")
    p.set_defaults(func=cmd_reproduce)
    p = sub.add_parser("costs", help="cost and GPU-hours per model and day, with the share the gate rejected")
    p.add_argument("--since", type=date.fromisoformat, help="first day (YYYY-MM-DD, UTC) to count")
    p.add_argument("--model", help="only this model")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_costs)
    p = sub.add_parser("leaderboard", help="a model's gated runs ranked by the gate's metric, with cost")
    p.add_argument("model")
    p.add_argument("--metric", help="head.metric to rank by (default: the gate's metric in the model's spec)")
    p.add_argument("--segment", help=_SEGMENT_HELP)
    p.add_argument("--json", action="store_true")
    p.add_argument("--no-plot", action="store_true", help="do not log the metric-against-cost plot to MLflow")
    p.set_defaults(func=cmd_leaderboard)
    p = sub.add_parser("dag-shards", help="write the DAG files the model specs are split over")
    p.add_argument("--shards", type=int, help="how many files (default: RETRAIN_PARSE_SHARDS)")
    p.add_argument("--dags-dir", help="the DAG folder (default: the project's dags/)")
    p.set_defaults(func=cmd_dag_shards)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except Exception as exc:  # a CLI prints one clear line, not a traceback
        from mlflow.exceptions import MlflowException

        from retrain.errors import RetrainError

        if isinstance(exc, RetrainError | MlflowException):
            print(f"retrain {args.command}: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
