"""Rows without a label: counted per partition, dropped only when the spec asks, and only when they have none."""

import pyarrow as pa
from retrain.data.loading import drop_unlabeled, unlabeled_per_partition


def test_unlabeled_rows_are_counted_per_partition_over_every_label():
    table = pa.table({
        "a": [1, None, 0, 1, None],
        "b": [0, 1, None, 1, None],
        "__partition": ["dt=2026-01-01", "dt=2026-01-01", "dt=2026-01-02", "dt=2026-01-02", "dt=2026-01-03"],
    })
    assert unlabeled_per_partition(table, ["a", "b"], "__partition") == {
        "dt=2026-01-01": 1, "dt=2026-01-02": 1, "dt=2026-01-03": 1}
    assert unlabeled_per_partition(table, ["a", "b"], "__partition", every=True) == {"dt=2026-01-03": 1}
    # only a row with no label at all is dropped: the others train the heads whose labels they have
    kept = drop_unlabeled(table, ["a", "b"])
    assert kept.column("a").to_pylist() == [1, None, 0, 1] and kept.column("b").to_pylist() == [0, 1, None, 1]
    assert unlabeled_per_partition(kept, ["a", "b"], "__partition", every=True) == {}


def test_a_row_missing_one_heads_label_is_nan_for_that_head_only_when_the_spec_drops_unlabeled_rows():
    import math

    import pytest
    from retrain.data.encoding import label_array
    from retrain.errors import DataReadError

    table = pa.table({"churned": pa.array(["Yes", " ", None, "No"]), "spend": [1.5, None, 2.0, float("nan")]})
    churned = label_array(table, "churned", binary=True, positive="Yes", missing_ok=True).tolist()
    assert churned[0] == 1.0 and math.isnan(churned[1]) and math.isnan(churned[2]) and churned[3] == 0.0
    spend = label_array(table, "spend", missing_ok=True).tolist()
    assert spend[0] == 1.5 and math.isnan(spend[1]) and spend[2] == 2.0 and math.isnan(spend[3])
    with pytest.raises(DataReadError, match="label column 'churned' has 2 null values"):
        label_array(table, "churned", binary=True, positive="Yes")


def test_a_blank_text_label_is_no_label_not_a_negative():
    # "Yes"/"No" with a blank where the outcome is not known yet (a CSV export): a positive: "Yes" head would
    # read the blank as "not Yes", a negative; it is a row without a label, blocked or dropped like a null
    from retrain.data.encoding import label_array

    table = pa.table({
        "churned": pa.array(["Yes", "", "No", "  ", None, "No"]).dictionary_encode(),
        "__partition": ["dt=2019-03-01"] * 3 + ["dt=2019-03-02"] * 3,
    })
    assert unlabeled_per_partition(table, ["churned"], "__partition") == {"dt=2019-03-01": 1, "dt=2019-03-02": 2}
    kept = drop_unlabeled(table, ["churned"])
    assert label_array(kept, "churned", binary=True, positive="Yes").tolist() == [1.0, 0.0, 0.0]


def test_a_label_value_that_differs_from_positive_only_in_case_or_punctuation_is_refused():
    """The Adult census table writes ' >50K' in one file and ' >50K.' in the other: with positive: '>50K' the
    second kind trained as negatives without a word. A value that matches the positive one once case, spaces
    and a final period are ignored is refused, naming both; a third, different class is a one-vs-rest label, allowed."""
    from retrain.data.encoding import numeric_column_problem

    income = pa.table({"income": [" >50K", " <=50K", " >50K.", " <=50K.", "  >50K", ">50k"]})
    problem = numeric_column_problem(income, "income", binary=True, positive=">50K")
    assert problem == (
        "label column 'income' holds values that differ from its positive value '>50K' only in case, spaces or "
        "a final period: ['>50K.', '>50k'] (2 rows), which would be read as 0; clean them upstream, or name the exact "
        "value in positive:")
    plans = pa.table({"plan": ["churned", "active", "paused", "churned"]})
    assert numeric_column_problem(plans, "plan", binary=True, positive="churned") is None
