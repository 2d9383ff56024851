"""Great Expectations plumbing: a quiet ephemeral context with one pandas data source."""

from __future__ import annotations

import logging
import os


def quiet_gx() -> None:
    """GX logs every registered function at INFO and draws progress bars; neither belongs in task logs."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    for name in ("great_expectations", "great_expectations._docs_decorators"):
        logging.getLogger(name).setLevel(logging.WARNING)


def ephemeral_batch_definition():
    quiet_gx()
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_pandas("retrain")
    return source.add_dataframe_asset("partition").add_batch_definition_whole_dataframe("whole")
