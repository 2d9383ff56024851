"""`retrain`: the registry from a terminal.

    retrain history <model>                              every champion move: when, who, from, to, why
    retrain rollback <model> [--to VERSION] --reason ..  move the champion back, and record it
    retrain reproduce <mlflow-run-id>                    train again from a run's manifest, compare metrics

They talk to the MLflow store named by MLFLOW_TRACKING_URI (the embedded default without it).
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys


def _client():
    from retrain.settings import get_settings
    from retrain.tracking import mlflow_store

    return mlflow_store.connect(get_settings())


def cmd_history(args: argparse.Namespace) -> int:
    from retrain.tracking.registry import history, outside_move, promotion_lock, record_outside_move

    client = _client()
    if outside_move(client, args.model) is not None:  # recorded, so the history tells the whole story
        with promotion_lock(client, args.model, f"cli:{getpass.getuser()}"):
            record_outside_move(client, args.model)
    moves = history(client, args.model)
    if args.json:
        print(json.dumps([m.__dict__ for m in moves], indent=2))
        return 0
    if not moves:
        print(f"{args.model}: no champion moves recorded yet")
    for m in moves:
        print(f"{m.at}  {m.alias}: {m.from_version or '-'} -> {m.to_version}  by {m.actor}  ({m.reason})")
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    from retrain.tracking.registry import rollback

    move = rollback(_client(), args.model, to_version=args.to, actor=f"cli:{getpass.getuser()}", reason=args.reason)
    if move is None:
        print(f"{args.model}: version {args.to or 'previous-champion'} is already the champion; nothing changed")
        return 0
    print(f"{args.model}: champion moved back from version {move.from_version} to {move.to_version}")
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    from retrain.pipeline.reproduce import reproduce

    result = reproduce(_client(), args.run_id)
    for line in result.report():
        print(line)
    return 0 if result.matches else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="retrain", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("history", help="print the champion history of a model")
    p.add_argument("model")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_history)
    p = sub.add_parser("rollback", help="move the champion back")
    p.add_argument("model")
    p.add_argument("--to", help="version to make champion (default: the previous champion)")
    p.add_argument("--reason", required=True, help="why; recorded in the history")
    p.set_defaults(func=cmd_rollback)
    p = sub.add_parser("reproduce", help="re-run training from a run's manifest and compare metrics")
    p.add_argument("run_id")
    p.set_defaults(func=cmd_reproduce)
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
