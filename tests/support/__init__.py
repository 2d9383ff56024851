"""Test support code shared across test packages: real local stand-ins for outside services.

Import as ``from tests.support.slack_standin import SlackStandIn`` (pytest puts the repo root on sys.path).
"""
