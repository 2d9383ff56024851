"""Which specs a parse of the DAG file must build.

The dag-processor builds every spec's DAG. A task process parses the same file only to find its own task:
Airflow sets ``get_parsing_context().dag_id`` then (Airflow docs, "Dynamic DAG generation: optimizing DAG
parsing delays during execution"), and building the other DAGs would cost every task start 9-19 ms per
spec in the folder (docs/benchmarks.md, "Parsing"). So for a task only the spec of that DAG is loaded:
first the file whose name gives the DAG id (``<name>.yaml`` for ``retrain_<name>``, the convention of
include/specs/), and only when that file is missing or names another model, every spec as before.

Shards: with ``RETRAIN_PARSE_SHARDS=N`` the specs are split over N DAG files by a stable hash of the spec file
name: ``dags/retrain_models.py`` is shard 0, ``dags/retrain_models_shard_<k>.py`` (``retrain dag-shards``
writes them) shard k. Each file builds only its shard, so no file nears ``dagbag_import_timeout`` and a
spec's change re-parses one file; shard 0 also builds every shard whose file is missing, so no DAG is lost.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable
from pathlib import Path

from retrain.config import BrokenSpec, LoadedSpec, discover_specs, load_spec
from retrain.errors import SpecError


def parsing_dag_id() -> str | None:
    """The DAG a task process parses for; None in the dag-processor and elsewhere (build every DAG)."""
    from airflow.sdk import get_parsing_context

    return get_parsing_context().dag_id


def dag_id_of(item: LoadedSpec | BrokenSpec) -> str:
    return item.dag_id if isinstance(item, BrokenSpec) else item.spec.dag_id


def specs_to_build(specs_dir: str | Path, dag_id: str | None = None,
                   keep: Callable[[Path], bool] | None = None) -> list[LoadedSpec | BrokenSpec]:
    """Every spec (``keep``: of this DAG file's shard), or, for a task of DAG ``dag_id`` (the parsing
    context's by default), only its spec."""
    dag_id = dag_id if dag_id is not None else parsing_dag_id()
    if not dag_id:
        return discover_specs(specs_dir, keep)
    candidates = _candidates(Path(specs_dir), dag_id)
    if len(candidates) == 1:  # x.yaml beside x.yml is a clash: only the full parse settles it
        try:
            item = load_spec(candidates[0])
        except SpecError:
            item = None  # a broken file may lose its id to a valid one: the full parse decides
        if item is not None and item.spec.dag_id == dag_id:
            return [item] if keep is None or keep(item.path) else []  # or another shard file's DAG
    everything = discover_specs(specs_dir, keep)  # the file name does not follow the model name: look at all
    return [item for item in everything if dag_id_of(item) == dag_id] or everything


SHARD_FILE = "retrain_models_shard_{}.py"


def shard_of(spec_file: Path, shards: int) -> int:
    """The shard of a spec file: a hash of its name that every process and Python version agrees on."""
    return zlib.crc32(spec_file.name.encode()) % shards


def shard_filter(dag_file: str | Path | None, shards: int) -> Callable[[Path], bool] | None:
    """Which spec files the DAG file ``dag_file`` builds; None for all of them (one shard, or no file)."""
    if dag_file is None or shards <= 1:
        return None
    dag_file = Path(dag_file)
    match = re.fullmatch(r"retrain_models_shard_(\d+)\.py", dag_file.name)
    index = int(match.group(1)) if match else 0
    mine = {index} if index < shards else set()  # a file left from a larger N builds nothing
    if index == 0:
        mine |= {k for k in range(1, shards) if not (dag_file.parent / SHARD_FILE.format(k)).is_file()}
    return lambda spec_file: shard_of(spec_file, shards) in mine


def write_shard_files(dags_dir: Path, shards: int) -> list[Path]:
    """Copies of ``retrain_models.py`` for shards 1..N-1; files of shards at N or above are removed."""
    source = (dags_dir / "retrain_models.py").read_text()
    written = []
    for k in range(1, shards):
        target = dags_dir / SHARD_FILE.format(k)
        target.write_text(source)
        written.append(target)
    for stale in dags_dir.glob(SHARD_FILE.format("*")):
        if stale not in written:
            stale.unlink()
    return written


def _candidates(specs_dir: Path, dag_id: str) -> list[Path]:
    stem = dag_id.removeprefix("retrain_")
    return [path for path in (specs_dir / f"{stem}.yaml", specs_dir / f"{stem}.yml") if path.is_file()]
