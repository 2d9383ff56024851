"""Data contracts: expectation suites kept as YAML in the repository, run with Great Expectations Core."""

from retrain.validation.contract import ExpectationFailure, ValidationReport, validate_frame
from retrain.validation.suite import ContractSuite, load_suite

__all__ = ["ContractSuite", "ExpectationFailure", "ValidationReport", "load_suite", "validate_frame"]
