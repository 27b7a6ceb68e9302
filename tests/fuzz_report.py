"""The schemathesis run's counts, printed in pytest's closing summary (tests/test_api_fuzz.py)."""

import os
from collections import Counter
from dataclasses import dataclass, field

import pytest


@dataclass
class FuzzTally:
    operations: set = field(default_factory=set)
    cases: int = 0
    answers: Counter = field(default_factory=Counter)

    def record(self, role: str, operation: str, status: int) -> None:
        self.operations.add((role, operation))
        self.cases += 1
        self.answers[f"{status // 100}xx"] += 1


FUZZ_TALLY = pytest.StashKey[FuzzTally]()


def fuzz_tally(config: pytest.Config) -> FuzzTally:
    return config.stash.setdefault(FUZZ_TALLY, FuzzTally())


def pytest_collection_modifyitems(items):
    """Give each fuzzed operation a node id of its own.

    schemathesis 4 names an operation's item "test[GET /api/v1/…]", but pytest 9 builds node ids
    from the function's name and its parametrize ids, which schemathesis leaves empty: every item
    of a test had the function's node id. pytest-xdist tells items apart by node id, so it
    ran only the first operation of each test, and 92 of 94 went silently untested.
    """
    for item in items:
        label = getattr(item, "operation_label", None)
        if label and not item.nodeid.endswith("]"):
            item._id = item._id.with_params(label)
    ids = [item.nodeid for item in items]
    shared = sorted({i for i in ids if ids.count(i) > 1})
    if shared:
        raise pytest.UsageError(
            "These tests share a node id, so pytest-xdist would run only one of each: "
            + ", ".join(shared))


def pytest_sessionfinish(session):
    """Under pytest-xdist each worker fuzzes apart: send its counts to the controller."""
    tally = session.config.stash.get(FUZZ_TALLY, None)
    if tally is not None and hasattr(session.config, "workeroutput"):
        session.config.workeroutput["fuzz_tally"] = {
            "operations": sorted(tally.operations), "cases": tally.cases,
            "answers": dict(tally.answers)}


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """The controller adds up the counts its workers sent (see pytest_sessionfinish)."""
    sent = getattr(node, "workeroutput", {}).get("fuzz_tally")
    if sent:
        tally = fuzz_tally(node.config)
        tally.operations.update(tuple(op) for op in sent["operations"])
        tally.cases += sent["cases"]
        tally.answers.update(sent["answers"])


def pytest_terminal_summary(terminalreporter, config):
    """Print how many operations, cases and failures the schemathesis run had."""
    tally = config.stash.get(FUZZ_TALLY, None)
    if tally is None:
        return
    failed = sum("test_api_fuzz.py" in report.nodeid
                 for report in terminalreporter.stats.get("failed", []))
    answers = ", ".join(f"{n} {status}" for status, n in sorted(tally.answers.items()))
    terminalreporter.write_sep("-", "schemathesis")
    terminalreporter.write_line(
        f"schemathesis: {len(tally.operations)} operations tested (by role), {tally.cases} cases "
        f"generated ({answers}), {failed} failed"
    )
    if os.environ.get("FUZZ_RANDOM") == "0":
        terminalreporter.write_line(
            "schemathesis: boundary values only in this lane (FUZZ_RANDOM=0); the PostgreSQL "
            "lane runs the random phase")
