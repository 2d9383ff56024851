"""Data contracts: expectation suites kept as YAML in the repository, run with Great Expectations Core.

    suite = load_suite(path)                                   # SpecError names the file and field
    report = validate_frame(frame, suite, partition=label)     # one GX run; never raises for bad data
    report.raise_for_blocking()                                # DataContractError for blocking failures

Importing this package is cheap: great_expectations and pandas are imported inside the functions.
"""

from retrain.validation.contract import ExpectationFailure, ValidationReport, validate_frame
from retrain.validation.suite import ContractExpectation, ContractSuite, Severity, load_suite

__all__ = [
    "ContractExpectation",
    "ContractSuite",
    "ExpectationFailure",
    "Severity",
    "ValidationReport",
    "load_suite",
    "validate_frame",
]
