"""libical, the C library Evolution reads calendars with, called through ctypes.

`make libical-deps` unpacks Debian's libical3 into .cache/libical; a libical installed on the
machine does as well. What it finds wrong it writes into the parsed calendar as X-LIC-ERROR
properties, which `problems` collects from the calendar serialised back.
"""

import ctypes
import ctypes.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UNPACKED = ROOT / ".cache" / "libical"
ERROR_LINE = re.compile(r"^X-LIC-ERROR[;:]", re.MULTILINE)


class LibicalMissing(Exception):
    """Why libical cannot be used here; the tests that need it skip with this message."""


class Libical:
    def __init__(self, path: str):
        lib = ctypes.CDLL(path)
        lib.icalparser_parse_string.argtypes = [ctypes.c_char_p]
        lib.icalparser_parse_string.restype = ctypes.c_void_p
        lib.icalrestriction_check.argtypes = [ctypes.c_void_p]
        lib.icalrestriction_check.restype = ctypes.c_int
        lib.icalcomponent_as_ical_string.argtypes = [ctypes.c_void_p]
        lib.icalcomponent_as_ical_string.restype = ctypes.c_char_p
        lib.icalcomponent_free.argtypes = [ctypes.c_void_p]
        lib.icalcomponent_free.restype = None
        lib.icalerror_set_errors_are_fatal.argtypes = [ctypes.c_int]
        lib.icalerror_set_errors_are_fatal.restype = None
        # A build with fatal errors would abort() the test process on the first bad line.
        lib.icalerror_set_errors_are_fatal(0)
        self.lib = lib
        self.path = path

    def problems(self, body: bytes) -> list[str]:
        """Every X-LIC-ERROR libical's parser and RFC 5546 restriction check leave in the body."""
        component = self.lib.icalparser_parse_string(body)
        if not component:
            return ["libical could not parse the calendar at all"]
        try:
            self.lib.icalrestriction_check(component)
            text = self.lib.icalcomponent_as_ical_string(component).decode()
        finally:
            self.lib.icalcomponent_free(component)
        unfolded = re.sub(r"\r?\n[ \t]", "", text)
        return [line for line in unfolded.splitlines() if ERROR_LINE.match(line)]


def load(unpacked: Path = UNPACKED, installed: bool = True) -> Libical:
    """The unpacked library, else the machine's; LibicalMissing says why neither loads."""
    candidates = sorted(str(p) for p in unpacked.glob("usr/lib/*/libical.so.3"))
    found = ctypes.util.find_library("ical") if installed else None
    if found:
        candidates.append(found)
    if not candidates:
        raise LibicalMissing(
            f"libical is neither in {unpacked} nor installed: run `make libical-deps` "
            "(it needs apt-get) or install libical3")
    failures = []
    for path in candidates:
        try:
            return Libical(path)
        except (OSError, AttributeError) as error:
            failures.append(f"{path}: {error}")
    raise LibicalMissing("libical would not load: " + "; ".join(failures))
