"""Turn a pyarrow table into contiguous model inputs, with no per-row Python.

Numeric columns are standardised with the training data's mean and standard deviation (nulls become the
mean). Categorical columns map to integer ids through a vocabulary learnt from the training data; id 0 is
reserved for unseen values and nulls. The encoder is saved with the model, so serving encodes the same way.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from retrain.errors import DataReadError

UNKNOWN_ID = 0


@dataclass(frozen=True)
class EncodedFeatures:
    numeric: np.ndarray  # float32 [rows, n_numeric]
    categorical: np.ndarray  # int64 [rows, n_categorical]

    def __len__(self) -> int:
        return self.numeric.shape[0]


@dataclass(frozen=True)
class FeatureEncoder:
    numeric: list[str]
    categorical: list[str]
    means: dict[str, float] = field(default_factory=dict)
    stds: dict[str, float] = field(default_factory=dict)
    vocab: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def fit(
        cls, table: pa.Table, numeric: list[str], categorical: list[str], max_vocab: int = 10_000
    ) -> FeatureEncoder:
        means, stds, vocab = {}, {}, {}
        for name in numeric:
            values = _as_float(table, name)
            mean = pc.mean(values).as_py()
            std = pc.stddev(values).as_py()
            means[name] = float(mean) if mean is not None else 0.0
            stds[name] = float(std) if std else 1.0
        for name in categorical:
            counts = pc.value_counts(pc.drop_null(_as_string(table, name)))
            pairs = sorted(
                zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True),
                key=lambda vc: (-vc[1], vc[0]),
            )
            vocab[name] = [value for value, _ in pairs[:max_vocab]]
        return cls(numeric=list(numeric), categorical=list(categorical), means=means, stds=stds, vocab=vocab)

    @property
    def cardinalities(self) -> list[int]:
        """Embedding table sizes: vocabulary plus the reserved unknown id."""
        return [len(self.vocab[name]) + 1 for name in self.categorical]

    def transform(self, table: pa.Table) -> EncodedFeatures:
        rows = table.num_rows
        numeric = np.empty((rows, len(self.numeric)), dtype=np.float32)
        for j, name in enumerate(self.numeric):
            values = pc.fill_null(_as_float(table, name), self.means[name])
            column = values.to_numpy(zero_copy_only=False)
            numeric[:, j] = (column - self.means[name]) / self.stds[name]
        categorical = np.empty((rows, len(self.categorical)), dtype=np.int64)
        for j, name in enumerate(self.categorical):
            ids = pc.index_in(_as_string(table, name), value_set=pa.array(self.vocab[name], type=pa.string()))
            categorical[:, j] = pc.fill_null(pc.add(ids, 1), UNKNOWN_ID).to_numpy(zero_copy_only=False)
        return EncodedFeatures(numeric=numeric, categorical=categorical)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> FeatureEncoder:
        return cls(**data)


def label_array(table: pa.Table, column: str, binary: bool = False, positive: str | None = None,
                missing_ok: bool = False, classes: list[str] | None = None) -> np.ndarray:
    """A target column as float32; nulls in a label are a data error, not something to impute (``missing_ok``:
    NaN, a row this head neither learns from nor is judged on), and so is a ``binary`` label other than 0/1
    (1/2 or -1/1 codes would otherwise reach the loss). With ``positive`` (a binary head's ``positive:``), rows
    whose label is that text are 1 and the others 0. With ``classes`` (a multiclass head), the index of the
    row's value among them; a value that is none of them is a data error."""
    if classes is not None:
        indices, problem = _class_indices(table, column, classes)
        if problem:
            raise DataReadError(problem)
        values = pc.cast(indices, pa.float64())
    else:
        values = _as_float(table, column) if positive is None else _is_positive(table, column, positive)
    if values.null_count and not missing_ok:
        raise DataReadError(f"label column '{column}' has {values.null_count} null values")
    problem = _not_0_1(values, column) if binary and positive is None else None
    if problem:
        raise DataReadError(problem)
    return values.to_numpy(zero_copy_only=False).astype(np.float32, copy=False)  # null -> NaN


def head_labels(table: pa.Table, heads, missing_ok: bool = False) -> dict[str, np.ndarray]:
    """Every head's target (``label_array``), by head name: what training, evaluation and scoring compare with.
    ``missing_ok`` (``data.drop_unlabeled_rows``): a row missing one head's label is NaN for that head."""
    return {h.name: label_array(table, h.label, h.kind == "binary", h.positive, missing_ok, h.classes) for h in heads}


def class_label_problem(table: pa.Table, column: str, classes: list[str]) -> str | None:
    """Why a multiclass head's label column holds values outside its ``classes`` (as trimmed text), or None."""
    return _class_indices(table, column, classes)[1]


def _class_indices(table: pa.Table, column: str, classes: list[str]) -> tuple[pa.ChunkedArray, str | None]:
    """Each row's index among ``classes`` (null: no label, or a value outside them), and ``class_label_problem``."""
    text = blank_text_as_null(_as_string(table, column))
    indices = pc.index_in(text, value_set=pa.array(classes, text.type))
    outside = pc.filter(text, pc.and_(pc.is_null(indices), pc.is_valid(text)))
    if len(outside) == 0:
        return indices, None
    counts = sorted(pc.value_counts(outside).to_pylist(), key=lambda c: -c["counts"])
    rows = f"{len(outside):,} row{'s' if len(outside) != 1 else ''}"
    return indices, (f"label column '{column}' holds {rows} whose value is not one of the head's classes "
                     f"{classes[:10]}{'...' if len(classes) > 10 else ''}: e.g. {[c['values'] for c in counts[:5]]}; "
                     "add them to classes: (a new class needs a new model), or clean them upstream")


def _is_positive(table: pa.Table, column: str, positive: str) -> pa.ChunkedArray:
    text = blank_text_as_null(_as_string(table, column))  # trimmed; blank is no label, as ``_no_label`` reads it
    return pc.cast(pc.equal(text, positive.strip()), pa.float64())


def numeric_column_problem(table: pa.Table, column: str, binary: bool = False, positive: str | None = None
                           ) -> str | None:
    """Why ``column`` cannot be read as a number (text, infinite values) or, ``binary``, as a 0/1 label, or holds
    no row of its ``positive`` value; or None."""
    if positive is not None:
        if table.num_rows and not pc.max(_is_positive(table, column, positive)).as_py():
            seen = pc.unique(pc.drop_null(_as_string(table, column))).to_pylist()[:5]
            return f"no row of label column '{column}' holds the positive value {positive!r}; it holds e.g. {seen}"
        return _near_positive(table, column, positive)
    try:
        values = _as_float(table, column)
    except DataReadError as exc:
        return str(exc) + ("; a text label needs the head's positive: value" if binary else "")
    return _not_0_1(values, column) if binary else None


def _near_positive(table: pa.Table, column: str, positive: str) -> str | None:
    """Values read as 0 that are the positive value written another way (``>50K.`` beside ``>50K``, ``yes``
    beside ``Yes``): a label split silently in two is worse than a refused run."""
    def plain(text: str) -> str:
        return re.sub(r"\s+", "", text).rstrip(".").casefold()

    counts = pc.value_counts(pc.drop_null(pc.utf8_trim_whitespace(_as_string(table, column)))).to_pylist()
    wanted, exact = plain(positive), positive.strip()
    near = {c["values"]: c["counts"] for c in counts
            if c["values"] != exact and c["values"] and plain(c["values"]) == wanted}
    if not near:
        return None
    return (f"label column '{column}' holds values that differ from its positive value {exact!r} only in case, spaces "
            f"or a final period: {sorted(near)[:5]} ({sum(near.values()):,} rows), which would be read as 0; clean them "
            "upstream, or name the exact value in positive:")


def _not_0_1(values: pa.ChunkedArray, column: str) -> str | None:
    values = pc.drop_null(values)  # a missing label is an unlabeled row: its own check (retrain_labels_not_null)
    wrong = pc.filter(values, pc.invert(pc.is_in(values, value_set=pa.array([0.0, 1.0]))))
    if len(wrong) == 0:
        return None
    seen = sorted(pc.unique(wrong).to_pylist(), key=str)[:5]
    return (f"label column '{column}' of a binary head must hold 0/1 (or true/false); {len(wrong)} rows hold "
            f"other values, e.g. {[int(v) if float(v).is_integer() else v for v in seen]}; a head's positive: value "
            f"names the one that means 1")


def _column(table: pa.Table, name: str) -> pa.ChunkedArray:
    if name not in table.column_names:
        raise DataReadError(f"column '{name}' is missing; the data has {table.column_names}")
    return table.column(name)


def _as_float(table: pa.Table, name: str) -> pa.ChunkedArray:
    """The column as float64 with NaN as null (pandas' missing value, as polars and Spark write it); an infinite
    value cannot be standardised or learnt from, and is an error naming the column."""
    column = blank_text_as_null(_column(table, name))
    if pa.types.is_temporal(column.type):
        kind = "durations" if pa.types.is_duration(column.type) else "timestamps" if pa.types.is_timestamp(
            column.type) else "dates or times"
        raise DataReadError(f"column '{name}' holds {kind} ({column.type}), not numbers: derive the numbers that "
                            "matter upstream (hour of day, day of week, age in days)")
    try:
        values = pc.cast(column, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise DataReadError(_not_numbers(column, name) or f"column '{name}' must be numeric, found {column.type}: "
                            f"{exc}") from None
    if not pc.any(pc.invert(pc.is_finite(values))).as_py():
        return values
    infinite = int(pc.sum(pc.is_inf(values)).as_py() or 0)
    if infinite:
        raise DataReadError(f"column '{name}' holds {infinite} infinite values")
    return pc.if_else(pc.is_nan(values), pa.scalar(None, pa.float64()), values)


def blank_text_as_null(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """The column decoded (pandas' category dtype) and, if text, trimmed with blank text as null: a CSV export
    writes a missing value as blank text (the Telco table's TotalCharges, a label not known yet)."""
    if pa.types.is_dictionary(column.type):
        column = pc.cast(column, column.type.value_type)
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        return column
    text = pc.utf8_trim_whitespace(column)
    return pc.if_else(pc.equal(text, ""), pa.scalar(None, text.type), text)


_NUMBER = r"^[+-]?((\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|(?i:nan|inf|infinity))$"  # what Arrow casts to a double


def _not_numbers(text: pa.ChunkedArray, name: str) -> str | None:
    """How many rows of a text column hold something other than a number, and which; None if not text."""
    if not (pa.types.is_string(text.type) or pa.types.is_large_string(text.type)):
        return None

    not_number = pc.invert(pc.match_substring_regex(text, _NUMBER))
    bad_rows = pc.filter(text, pc.fill_null(not_number, False))
    if len(bad_rows) == 0:
        return None
    rows, bad = len(bad_rows), sorted(pc.unique(bad_rows).to_pylist()[:1000])
    return f"column '{name}' must be numeric: {rows} rows hold text that is not a number, e.g. {bad[:5]}"


def _as_string(table: pa.Table, name: str) -> pa.ChunkedArray:
    problem = categorical_column_problem(table, name)
    if problem:
        raise DataReadError(problem)
    return category_text(_column(table, name))


def categorical_column_problem(table: pa.Table, name: str) -> str | None:
    """Why ``name`` cannot be read as categories (a list, struct or map per row), or None."""
    kind = _column(table, name).type
    if pa.types.is_nested(kind):
        return (f"column '{name}' holds {kind} values, not categories: flatten it upstream (a column per field, "
                "or the values joined into one string)")
    return None


def category_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A column's values as the text that names a category or a segment, one rule for training, serving and
    segment planning: Arrow's cast (1.0 and 1 are both '1', booleans 'true'/'false'), and NaN is missing like
    null (Spark and polars write NaN where pandas, serving, hands over null)."""
    if pa.types.is_string(column.type):
        return column
    if pa.types.is_floating(column.type):
        column = pc.if_else(pc.is_nan(column), pa.scalar(None, column.type), column)
    return pc.cast(column, pa.string())
