"""Make docs/img/cost-leaderboard.png from real runs: train, evaluate and gate the demo tabular spec a few times
with different hyperparameters on small demo data (a throwaway MLflow store), then draw the leaderboard.

    python -m bench.cost_plot [docs/img/cost-leaderboard.png]
"""

from __future__ import annotations

import dataclasses
import os
import sys
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = [  # (hidden units, epochs): small to large, so cost spreads out
    ([16], 1), ([32, 16], 2), ([64, 32], 3), ([128, 64], 4), ([256, 128], 5),
]


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else ROOT / "docs" / "img" / "cost-leaderboard.png"
    tmp = Path(tempfile.mkdtemp(prefix="retrain-cost-plot-"))
    os.environ.update({"RETRAIN_DATA_ROOT": str(tmp / "data"), "RETRAIN_LOCAL_STATE": str(tmp / "state"),
                       "MLFLOW_TRACKING_URI": f"sqlite:///{tmp / 'mlflow.db'}"})
    from retrain.config import load_spec
    from retrain.contracts import RunInfo
    from retrain.pipeline import gating_stage
    from retrain.pipeline.data_stages import check_freshness
    from retrain.pipeline.training_stage import train_candidate
    from retrain.settings import get_settings
    from retrain.tracking import costs, mlflow_store
    from retrain.tracking.plots import metric_vs_cost
    from retrain_demo.data import generate_demo_data

    end = date(2026, 3, 7)
    generate_demo_data(tmp / "data", end, days=4, rows_per_day=5000)
    base = load_spec(ROOT / "include" / "specs" / "ecommerce_dwell_time.yaml")
    for i, (hidden, epochs) in enumerate(CONFIGS):
        spec = base.spec
        spec = spec.model_copy(update={
            "training": spec.training.model_copy(update={"epochs": epochs, "device": "cpu"}),
            "architecture": spec.architecture.model_copy(update={"hidden_units": hidden})})
        loaded = dataclasses.replace(base, spec=spec)
        as_of = datetime(2026, 3, 8, tzinfo=UTC) + timedelta(hours=i)
        snapshot = check_freshness(loaded, as_of)
        trained = train_candidate(loaded, snapshot, RunInfo(spec.dag_id, f"manual__{i}", 1, as_of))
        evaluation = gating_stage.evaluate(loaded, snapshot, trained)
        decision = gating_stage.gate(loaded, evaluation, trained)
        if decision["promote"]:
            gating_stage.promote(loaded, trained, evaluation, decision, actor="cost-plot")
        else:
            gating_stage.reject(loaded, trained, evaluation, decision)
    client = mlflow_store.connect(get_settings())
    metric = costs.default_metric(base.spec.name)
    rows = costs.leaderboard(client, base.spec.name, metric)
    print(costs.format_leaderboard(rows, metric))
    print(costs.format_cost_report(costs.cost_report(client)))
    fig = metric_vs_cost(base.spec.name, metric, rows)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
