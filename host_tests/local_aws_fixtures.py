"""Pytest fixtures for the local AWS stand-in (tools/localaws/local_aws.py) in this process.

`aws`: one started LocalAWS per test module (moto's set-up takes about a second), with the
tests' shared CA; `stand_in`: the same, with no pending fault and its clock right again
after each test. Tests mark where their requests start (len(aws.requests)) and send
bodies of their own, so that they do not see each other's.
"""
import pytest

from local_aws import LocalAWS

__all__ = ["aws", "stand_in"]


@pytest.fixture(scope="module")
def aws():
    with LocalAWS() as server:
        yield server


@pytest.fixture
def stand_in(aws):
    yield aws
    aws.clear_faults()
    aws.clock_offset = 0
