"""Model artifacts that are verified before anything in them is read: digests of every file of a version.

Training records the sha256 of every file of the logged model (``MLmodel``, the environment files, the
input example and the bundle under ``data/bundle``) as the run tag ``retrain.artifact_sha256``, and
registration copies it to the version. Every path that loads or moves a model downloads the version once,
checks the files against that record (nothing missing, nothing changed, nothing added, no links) and
that ``MLmodel`` names this package's loader and ships no code, and only then reads the local copy.

The logged model contains no code: its pyfunc flavour names ``retrain.tracking.pyfunc`` as loader
module, which comes from the installed package (its version and bundle format are recorded in the
``MLmodel`` model config and checked at load time). Why and what is left: docs/security.md.
"""

from __future__ import annotations

import json
import logging
import tempfile
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING

from retrain.errors import ArtifactIntegrityError
from retrain.tracking.lineage import file_sha256
from retrain.tracking.tags import ARTIFACT_SHA256 as DIGEST_TAG

if TYPE_CHECKING:
    from retrain.tracking.mlflow_store import RegistryClient

log = logging.getLogger(__name__)

LOADER_MODULE = "retrain.tracking.pyfunc"
BUNDLE_FORMAT = 1  # bump when a bundle written by older code can no longer be read
DOWNLOAD_METADATA = "registered_model_meta"  # written by MLflow on the caller's side at every download

# The private copy ``load_verified`` has just checked: its loader need not read the run's record again.
_verified_copy: ContextVar[str | None] = ContextVar("retrain_verified_copy", default=None)
# requirements.txt contents this process already compared with the installed packages (MLflow warns on a
# mismatch at every load: once is enough, and a chunk of segment models loads hundreds with the same list)
_requirements_checked: set[str] = set()


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("retrain")
    except PackageNotFoundError:
        return "unknown"


def model_config() -> dict[str, str]:
    """Recorded in ``MLmodel`` and handed to the loader, which checks it against the installed package."""
    return {"retrain_version": package_version(), "bundle_format": str(BUNDLE_FORMAT)}


def digest_tree(root: str | Path) -> dict[str, str]:
    """sha256 of every file under ``root`` by POSIX relative path. A link is refused, never followed."""
    root = Path(root)
    out = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if path.is_symlink():
            raise ArtifactIntegrityError(f"{relative} is a link; model artifacts must be plain files")
        if path.is_file() and relative != DOWNLOAD_METADATA:
            out[relative] = file_sha256(path)
    return out


def check_files(root: str | Path, expected: dict[str, str], what: str) -> dict[str, str]:
    """Every file under ``root`` matches ``expected`` exactly, and an ``MLmodel`` there is ours."""
    if not expected:
        raise ArtifactIntegrityError(f"{what} has no recorded artifact sha256 ({DIGEST_TAG}); refusing to load it")
    found = digest_tree(root)
    missing = sorted(set(expected) - set(found))
    added = sorted(set(found) - set(expected))
    changed = sorted(k for k in set(expected) & set(found) if expected[k] != found[k])
    if missing or added or changed:
        parts = [f"{label}: {', '.join(names[:8])}" for label, names in
                 (("changed", changed), ("missing", missing), ("not recorded at training", added)) if names]
        raise ArtifactIntegrityError(f"{what}: artifacts changed since training ({'; '.join(parts)})")
    if "MLmodel" in found:
        check_mlmodel(Path(root) / "MLmodel", what)
    return found


def check_mlmodel(path: Path, what: str) -> dict:
    """The flavour must be this package's loader with no code shipped; anything else could run code."""
    import yaml

    meta = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}  # libyaml: ~10x
    flavors = meta.get("flavors") or {}
    pyfunc = flavors.get("python_function") or {}
    problems = []
    if set(flavors) != {"python_function"}:
        problems.append(f"flavours {sorted(flavors)}")
    if pyfunc.get("loader_module") != LOADER_MODULE:
        problems.append(f"loader {pyfunc.get('loader_module')!r} instead of {LOADER_MODULE!r}")
    for key in ("code", "python_model", "cloudpickle_version"):
        if pyfunc.get(key):
            problems.append(f"{key} {pyfunc[key]!r}")
    if problems:
        raise ArtifactIntegrityError(f"{what}: MLmodel is not a retrain model without code ({'; '.join(problems)})")
    return meta


def expected_digests(client: RegistryClient, name: str, version: str) -> dict[str, str]:
    from mlflow.exceptions import MlflowException

    try:
        model_version = client.get_model_version(name, version)
    except MlflowException as exc:
        if "RESOURCE_DOES_NOT_EXIST" in str(getattr(exc, "error_code", "")):
            raise ArtifactIntegrityError(f"{name} has no version {version}") from None
        raise
    try:
        return json.loads(model_version.tags.get(DIGEST_TAG) or "{}")
    except json.JSONDecodeError:
        raise ArtifactIntegrityError(f"{name} version {version}: the recorded {DIGEST_TAG} is not JSON") from None


def download_verified(client: RegistryClient, name: str, version: str, dst: str | Path) -> Path:
    """Download version ``version`` of ``name`` into ``dst`` and verify every file; return the local folder."""
    import mlflow

    what = f"{name} version {version}"
    expected = expected_digests(client, name, version)
    if not expected:
        raise ArtifactIntegrityError(f"{what} has no recorded artifact sha256 ({DIGEST_TAG}); refusing to load it")
    from mlflow.exceptions import MlflowException

    try:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{version}", dst_path=str(dst)))
    except MlflowException as exc:
        if "outside the artifact directory" in str(exc):  # a link planted in the store; MLflow refuses it too
            raise ArtifactIntegrityError(f"{what}: a file links outside the artifact store") from None
        raise  # anything else (a server away) stays a transient failure
    check_files(local, expected, what)
    return local


def load_verified(client: RegistryClient, name: str, version: str):
    """The pyfunc model of a version, loaded from a local copy whose every file was verified first."""
    import mlflow.pyfunc

    with tempfile.TemporaryDirectory() as tmp:
        local = download_verified(client, name, version, tmp)
        token = _verified_copy.set(str(local.resolve()))
        requirements = local / "requirements.txt"
        requirements = requirements.read_text() if requirements.is_file() else ""
        try:
            return mlflow.pyfunc.load_model(str(local), suppress_warnings=requirements in _requirements_checked)
        finally:
            _requirements_checked.add(requirements)
            _verified_copy.reset(token)


def load_verified_model(model_uri: str, client: RegistryClient | None = None):
    """Batch scoring: ``load_verified_model("models:/<name>@champion").predict(frame)``.

    Accepts ``models:/<name>/<version>`` and ``models:/<name>@<alias>``; anything else is refused,
    because only registered versions carry the digests recorded at training."""
    import mlflow

    if not model_uri.startswith("models:/"):
        raise ArtifactIntegrityError(f"{model_uri}: only registered models (models:/<name>/<version> or @alias) "
                                     "carry recorded digests")
    client = client or mlflow.MlflowClient()
    ref = model_uri.removeprefix("models:/")
    if "@" in ref:
        name, alias = ref.split("@", 1)
        version = str(client.get_model_version_by_alias(name, alias).version)
    else:
        name, _, version = ref.rpartition("/")
    return load_verified(client, name, version)


def is_verified_copy(model_root: Path) -> bool:
    """``model_root`` is the private copy ``load_verified`` checked a moment ago in this process."""
    return _verified_copy.get() == str(Path(model_root).resolve())


def verify_loaded_copy(model_root: Path, run_id: str | None) -> None:
    """For a plain ``mlflow.pyfunc.load_model``: check the local copy against its run's recorded digests."""
    import mlflow

    if not run_id:
        raise ArtifactIntegrityError(f"{model_root}: MLmodel names no run, so its digests cannot be checked")
    tags = mlflow.MlflowClient().get_run(run_id).data.tags
    try:
        expected = json.loads(tags.get(DIGEST_TAG) or "{}")
    except json.JSONDecodeError:
        expected = {}
    check_files(model_root, expected, f"the model of run {run_id}")
