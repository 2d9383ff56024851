"""`python -m bench` argument handling: which benchmarks a command line runs."""

import pytest

from bench.__main__ import benchmarks, main, select

NAMES = [(name, opt_in) for name, _, opt_in in benchmarks()]
DEFAULT = [name for name, opt_in in NAMES if not opt_in]


def test_no_argument_runs_every_default_benchmark_and_no_opt_in_one():
    assert select([], NAMES) == DEFAULT
    assert "validation" in DEFAULT and "segments" in DEFAULT
    assert "segments_scheduler" not in DEFAULT and "specs_scheduler" not in DEFAULT


def test_a_name_runs_the_benchmarks_it_is_part_of():
    assert select(["loader"], NAMES) == ["loader_vs_per_row", "loader_vs_memcpy", "loader_vs_pyarrow"]
    assert select(["validation"], NAMES) == ["validation"]


def test_segments_runs_the_in_process_benchmark_only():
    assert select(["segments"], NAMES) == ["segments"]


def test_the_opt_in_benchmark_runs_when_named():
    assert select(["segments_scheduler"], NAMES) == ["segments_scheduler"]
    assert select(["specs_scheduler"], NAMES) == ["specs_scheduler"]
    assert select(["scheduler"], NAMES) == ["segments_scheduler", "specs_scheduler"]


def test_several_names_in_run_order():
    assert select(["validation", "loader_vs_memcpy"], NAMES) == ["loader_vs_memcpy", "validation"]


def test_an_unknown_name_is_an_error(capsys):
    with pytest.raises(ValueError, match="nope"):
        select(["nope"], NAMES)
    assert main(["nope"]) == 2
    assert "no benchmark matches 'nope'" in capsys.readouterr().err
