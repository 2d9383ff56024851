from datetime import date

import numpy as np
import pyarrow as pa
import pytest
from retrain.data.encoding import UNKNOWN_ID, FeatureEncoder, label_array, numeric_column_problem
from retrain.data.landing import write_partition
from retrain.data.loading import read_table
from retrain.errors import DataReadError
from retrain_demo.data import generate_day


def test_encoder_round_trip_and_unknowns():
    table = pa.table({"x": [1.0, None, 3.0], "c": ["a", "b", None]})
    enc = FeatureEncoder.fit(table, ["x"], ["c"])
    encoded = enc.transform(pa.table({"x": [1.0, None], "c": ["b", "zzz"]}))
    assert encoded.numeric.dtype == np.float32 and encoded.numeric[1, 0] == 0.0  # null -> mean -> 0
    assert encoded.categorical[1, 0] == UNKNOWN_ID and encoded.categorical[0, 0] != UNKNOWN_ID
    assert FeatureEncoder.from_dict(enc.to_dict()) == enc
    assert enc.cardinalities == [3]


def test_nan_in_a_numeric_code_used_as_a_category_is_unknown_as_null_is():
    # a store code as double, NaN where Spark or polars wrote a missing one: pandas hands the model null for the
    # same rows at serving time, so NaN must not be a category of its own in training
    trained_on = pa.table({"store": pa.array([7.0, float("nan"), 7.0, 9.0])})
    enc = FeatureEncoder.fit(trained_on, [], ["store"])
    assert enc.vocab["store"] == ["7", "9"]
    served = enc.transform(pa.table({"store": pa.array([7.0, None, float("nan")])}))
    assert served.categorical[:, 0].tolist()[1:] == [UNKNOWN_ID, UNKNOWN_ID]


def test_numbers_as_strings_are_a_clear_error():
    table = pa.table({"x": ["1.0", "oops"]})
    with pytest.raises(DataReadError, match="column 'x' must be numeric"):
        FeatureEncoder.fit(table, ["x"], [])


def test_numbers_held_as_text_read_as_numbers_and_blank_text_is_missing():
    # the Telco churn table's TotalCharges: text, ' ' for a customer with no bill yet; CSV exports pad with spaces
    table = pa.table({"x": pa.array(["1.0", " ", "", " 3.0 ", None], pa.large_string())})
    encoder = FeatureEncoder.fit(table, ["x"], [])
    assert encoder.means["x"] == 2.0
    assert encoder.transform(table).numeric[:, 0].tolist() == [-1.0, 0.0, 0.0, 1.0, 0.0]
    assert numeric_column_problem(table, "x") is None
    with pytest.raises(DataReadError, match="label column 'x' has 3 null"):
        label_array(table, "x")
    category = pa.table({"x": pa.array(["1", " ", "3"]).dictionary_encode()})  # pandas' category dtype
    assert FeatureEncoder.fit(category, ["x"], []).means["x"] == 2.0


def test_a_timestamp_listed_as_a_number_says_what_to_do_instead():
    """A trip's start time in features.numeric failed with Arrow's "Unsupported cast from timestamp[us, tz=UTC]
    to double using function cast_double", which tells a data scientist nothing they can act on."""
    import datetime as dt

    table = pa.table({"started_at": pa.array([dt.datetime(2012, 6, 1, 8, tzinfo=dt.UTC)], pa.timestamp("us", "UTC"))})
    assert numeric_column_problem(table, "started_at") == (
        "column 'started_at' holds timestamps (timestamp[us, tz=UTC]), not numbers: derive the numbers that matter "
        "upstream (hour of day, day of week, age in days)")


def test_text_that_is_not_a_number_is_counted_and_shown():
    table = pa.table({"x": ["1.0", "n/a", "n/a", "12,5", None]})
    problem = numeric_column_problem(table, "x")
    assert problem == "column 'x' must be numeric: 3 rows hold text that is not a number, e.g. ['12,5', 'n/a']"


def test_null_label_is_an_error():
    with pytest.raises(DataReadError, match="label column 'y' has 1 null"):
        label_array(pa.table({"y": [1, None]}), "y")


def test_a_binary_label_coded_other_than_0_1_is_an_error_naming_the_values():
    assert label_array(pa.table({"y": [True, False]}), "y", binary=True).tolist() == [1.0, 0.0]
    assert label_array(pa.table({"y": [1, 2]}), "y").tolist() == [1.0, 2.0]  # a regression label: any number
    with pytest.raises(DataReadError, match=r"label column 'y' of a binary head must hold 0/1.*2 rows .*\[-1, 2\]"):
        label_array(pa.table({"y": [1, 2, -1, 0]}), "y", binary=True)


def test_a_text_label_is_1_where_it_holds_the_positive_value():
    table = pa.table({"income": [" >50K", "<=50K", ">50K", "<=50K."], "code": [1, 2, 2, 1]})
    assert label_array(table, "income", binary=True, positive=">50K").tolist() == [1.0, 0.0, 1.0, 0.0]
    assert label_array(table, "code", binary=True, positive="2").tolist() == [0.0, 1.0, 1.0, 0.0]
    with pytest.raises(DataReadError, match="label column 'income' has 1 null"):
        label_array(pa.table({"income": [">50K", None]}), "income", binary=True, positive=">50K")
    assert "no row of label column 'income' holds the positive value 'yes'" in numeric_column_problem(
        table, "income", binary=True, positive="yes")
    assert numeric_column_problem(table, "income", binary=True, positive=">50K") is None
    assert "a text label needs the head's positive: value" in numeric_column_problem(table, "income", binary=True)


def test_nan_is_a_missing_value_and_infinity_an_error_naming_the_column():
    # NaN is how polars and Spark write a missing float: it gets the training mean, as a null does
    table = pa.table({"x": [1.0, float("nan"), 3.0, None]})
    encoder = FeatureEncoder.fit(table, ["x"], [])
    assert encoder.means["x"] == 2.0
    assert encoder.transform(table).numeric[:, 0].tolist() == [-1.0, 0.0, 1.0, 0.0]
    with pytest.raises(DataReadError, match="label column 'x' has 2 null"):
        label_array(table, "x")
    infinite = pa.table({"x": [1.0, float("inf"), float("-inf")]})
    with pytest.raises(DataReadError, match="column 'x' holds 2 infinite values"):
        FeatureEncoder.fit(infinite, ["x"], [])
    with pytest.raises(DataReadError, match="column 'x' holds 1 infinite values"):
        encoder.transform(infinite.slice(1, 1))


def test_read_table_names_missing_column_and_file(tmp_path):
    folder = write_partition(generate_day(date(2026, 11, 1), 50), tmp_path, date(2026, 11, 1))
    files = sorted(folder.glob("*.parquet"))
    assert read_table(files, ["price", "click"]).num_rows == 50
    with pytest.raises(DataReadError, match=r"part-00000\.parquet: missing column\(s\) \['nope'\]"):
        read_table(files, ["price", "nope"])


def test_a_column_name_the_file_holds_twice_is_named(tmp_path):
    import pyarrow.parquet as pq

    # a join exported with both sides' names: two 'amount' columns in one file
    table = pa.Table.from_arrays([pa.array([1.0, 2.0]), pa.array([3.0, 4.0]), pa.array([0, 1])],
                                 names=["amount", "amount", "is_fraud"])
    pq.write_table(table, tmp_path / "part-0.parquet")
    for columns in (["amount", "is_fraud"], None):
        with pytest.raises(DataReadError, match=r"part-0\.parquet: column\(s\) \['amount'\] appear more than once"):
            read_table([tmp_path / "part-0.parquet"], columns)
    assert read_table([tmp_path / "part-0.parquet"], ["is_fraud"]).num_rows == 2  # columns the model does not read


def test_demo_data_is_deterministic_and_funnel_consistent():
    a, b = generate_day(date(2026, 11, 1), 2000), generate_day(date(2026, 11, 1), 2000)
    assert a.equals(b)
    click, atc, conv = (a.column(c).to_numpy() for c in ("click", "add_to_cart", "conversion"))
    assert np.all(atc <= click) and np.all(conv <= atc) and conv.sum() > 0


def test_a_missing_binary_label_is_not_reported_as_a_wrong_value():
    """A null label is an unlabeled row (its own check names data.drop_unlabeled_rows), not a value outside 0/1:
    reporting it here too gave a second failure reading 'hold other values, e.g. []'."""
    for labels in (pa.array([0, 1, None, 1]), pa.array([True, None, False]), pa.array([1.0, float("nan"), 0.0])):
        assert numeric_column_problem(pa.table({"y": labels}), "y", binary=True) is None
    problem = numeric_column_problem(pa.table({"y": pa.array([0, 2, None])}), "y", binary=True)
    assert "1 rows hold other values, e.g. [2]" in problem
