"""The last stage: log the run summary and post it to the model's Slack channel."""

from __future__ import annotations

import logging

from retrain.config import LoadedSpec
from retrain.pipeline.summary import render_summary

log = logging.getLogger(__name__)


def notify_outcome(loaded: LoadedSpec, run_id: str, trained: dict, evaluation: dict, outcome: dict) -> str:
    from retrain.alerts import send_alert

    text = render_summary(loaded, run_id, trained, evaluation, outcome)
    log.info("%s", text)
    send_alert(loaded.spec.alerts.slack_channel, text)
    return text
