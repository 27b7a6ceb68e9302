"""What a server installs: the runtime set only, every package pinned and hashed.

`requirements.txt` goes onto production machines (`make run`, the README's install); the test
and lint tools live in `requirements-dev.txt`, which holds the same runtime versions.
"""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEST_TOOLS = {"pytest", "pytest-xdist", "hypothesis", "schemathesis", "aiosmtpd", "playwright",
              "recurring-ical-events", "ruff", "mypy", "pip-tools"}
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s\\]+)")


def _pins(name: str) -> dict[str, str]:
    """Package → version of a compiled file, checking each pin carries its hashes."""
    pins: dict[str, str] = {}
    lines = (ROOT / name).read_text().splitlines()
    for number, line in enumerate(lines):
        match = PIN.match(line)
        if not match:
            continue
        assert line.endswith("\\") and "--hash=sha256:" in lines[number + 1], (
            f"{name}: {match.group(1)} is pinned without its hashes")
        pins[match.group(1).lower().replace("_", "-")] = match.group(2)
    return pins


def test_the_runtime_install_carries_no_test_tools():
    runtime = _pins("requirements.txt")
    assert {"flask", "sqlalchemy", "waitress", "gunicorn", "psycopg"} <= set(runtime)
    assert not TEST_TOOLS & set(runtime)


def test_the_dev_install_adds_the_tools_at_the_runtime_versions():
    runtime, dev = _pins("requirements.txt"), _pins("requirements-dev.txt")
    assert set(dev) >= TEST_TOOLS
    assert {name: dev.get(name) for name in runtime} == runtime


def test_every_declared_package_is_in_its_compiled_file():
    """Someone who adds a line to a .in file and forgets `make lock` finds out here."""
    for source, compiled in (("requirements.in", "requirements.txt"),
                             ("requirements-dev.in", "requirements-dev.txt")):
        pins = _pins(compiled)
        for line in (ROOT / source).read_text().splitlines():
            match = PIN.match(line)
            if match:
                name = re.sub(r"\[.*\]", "", match.group(1)).lower().replace("_", "-")
                assert pins.get(name) == match.group(2), f"{source}: {line} (run make lock)"
