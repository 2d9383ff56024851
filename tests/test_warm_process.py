"""The harness's warm processes (tests/support/warm_process.py) give what a fresh ``python <script>`` gives:
the exit code, a death by signal, the output, the environment, the folder, and a timeout."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support import warm_process

SCRIPT = textwrap.dedent("""
    import os, signal, sys
    import torch  # preloaded by the server: the same module a fresh process would import
    print("argv", sys.argv[1:], "cwd", os.getcwd(), "probe", os.environ.get("WARM_PROBE"))
    print("path0", sys.path[0], file=sys.stderr)
    if sys.argv[1] == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if sys.argv[1] == "sleep":
        import time; time.sleep(60)
    sys.exit(int(sys.argv[1]))
""")


@pytest.fixture
def script(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("RETRAIN_TESTS_FRESH_PROCESSES", raising=False)  # the warm path, always
    path = tmp_path / "probe.py"
    path.write_text(SCRIPT)
    return path


@pytest.mark.parametrize("argument", ["0", "3", "kill"])
def test_a_warm_run_ends_as_a_fresh_one(script: Path, tmp_path: Path, argument: str) -> None:
    env = {**os.environ, "WARM_PROBE": "from-the-caller"}
    warm = warm_process.run([script, argument], env=env, cwd=tmp_path)
    fresh = subprocess.run([sys.executable, str(script), argument], env=env, cwd=tmp_path, capture_output=True,
                           text=True)
    assert (warm.returncode, warm.stdout, warm.stderr) == (fresh.returncode, fresh.stdout, fresh.stderr)
    assert warm.returncode == {"0": 0, "3": 3, "kill": -signal.SIGKILL}[argument]
    if argument != "kill":
        assert "probe from-the-caller" in warm.stdout and str(tmp_path) in warm.stdout


def test_a_warm_run_past_its_timeout_is_killed(script: Path, tmp_path: Path) -> None:
    with pytest.raises(subprocess.TimeoutExpired):
        warm_process.run([script, "sleep"], env=dict(os.environ), cwd=tmp_path, timeout=2)
