"""NHS number: normalising, the Modulus 11 check digit, allocated ranges, and synthetic numbers.

NHS Data Dictionary (NHS NUMBER, n10): multiply digits 1-9 by weights 10..2, sum, take the
remainder mod 11; check = 11 - remainder; 11 means 0; 10 means the number is invalid (never
issued). Ranges are from uk-fci/nhs-number's notes (not an NHS publication). Synthetic patients
use the 999 test range, which is never issued to real people.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

_FORMAT = re.compile(r"^(\d{10}|\d{3} \d{3} \d{4}|\d{3}-\d{3}-\d{4})$")
WEIGHTS = np.arange(10, 1, -1)  # 10, 9, ..., 2

# (low, high inclusive, use, allocated for issue)
RANGES = [
    (10, 99_999_999, "unreserved", False),
    (100_000_000, 3_112_999_999, "Scotland CHI", True),
    (3_113_000_000, 3_199_999_999, "unreserved", False),
    (3_200_000_000, 3_999_999_999, "Northern Ireland H&C", True),
    (4_000_000_000, 4_999_999_999, "England, Wales, Isle of Man", True),
    (5_000_000_000, 5_999_999_999, "not to be issued (testing)", False),
    (6_000_000_000, 7_999_999_999, "England, Wales, Isle of Man", True),
    (8_000_000_000, 8_599_999_999, "Republic of Ireland IHI", True),
    (8_600_000_000, 8_999_999_999, "unreserved", False),
    (9_000_000_000, 9_999_999_999, "synthetic / test", False),
]


@dataclass(frozen=True)
class Result:
    ok: bool
    number: str | None
    reason: str = ""
    range_use: str = ""


def normalise(value: str | None) -> str | None:
    """'943 476 5919' -> '9434765919'; None if the format is not one of the accepted ones."""
    if value is None:
        return None
    value = str(value).strip()
    if not _FORMAT.match(value):
        return None
    return value.replace(" ", "").replace("-", "")


def check_digit(first_nine: str) -> int | None:
    """The check digit for nine digits, or None if the check value is 10 (no valid number)."""
    total = sum(int(d) * w for d, w in zip(first_nine, range(10, 1, -1), strict=True))
    check = 11 - total % 11
    if check == 11:
        return 0
    if check == 10:
        return None
    return check


def range_of(number: str) -> tuple[str, bool]:
    n = int(number)
    for low, high, use, allocated in RANGES:
        if low <= n <= high:
            return use, allocated
    return "unreserved", False


def validate(value: str | None, *, allow_test_range: bool = True) -> Result:
    """Validate an NHS number: format, check digit, and that it is in an allocated (or, if allowed,
    the synthetic test) range. The reason names what is wrong."""
    if value is None or str(value).strip() == "":
        return Result(False, None, "missing")
    number = normalise(value)
    if number is None:
        return Result(False, None, "not 10 digits (spaces or hyphens only as 3-3-4)")
    expected = check_digit(number[:9])
    if expected is None:
        return Result(False, number, "check value is 10, so no valid number has these first nine digits")
    if expected != int(number[9]):
        return Result(False, number, "check digit does not match (Modulus 11)")
    use, allocated = range_of(number)
    if allocated or (allow_test_range and number.startswith("9")):
        return Result(True, number, "", use)
    return Result(False, number, f"not in an allocated range ({use})", use)


def is_valid(value: str | None, *, allow_test_range: bool = True) -> bool:
    return validate(value, allow_test_range=allow_test_range).ok


def is_test_range(number: str) -> bool:
    return len(number) == 10 and number.startswith("9")


MAX_TEST_NUMBERS = 9_000_000


def _checks(stems: np.ndarray) -> np.ndarray:
    digits = (stems[:, None] // (10 ** np.arange(8, -1, -1, dtype=np.int64))) % 10
    check = 11 - (digits @ WEIGHTS) % 11
    return np.where(check == 11, 0, check)


def generate_test_numbers(n: int, start: int = 0) -> np.ndarray:
    """Valid NHS numbers in the synthetic 9xx range for sequence indices start..start+n-1.

    Index k maps to stem 999 000 000 + k (the "999" range) for k < 1,000,000, then to
    900 000 000 + (k - 1,000,000). If that stem's check value is 10 (no valid number), the index
    falls back to stem r x 10,000,000 + 900,000,000 + k for r = 1..8 in turn: disjoint regions,
    so every index has its own number and the same index always gets the same number.
    Vectorised: millions per second."""
    k = start + np.arange(n, dtype=np.int64)
    if n and k[-1] >= MAX_TEST_NUMBERS:
        raise ValueError(f"at most {MAX_TEST_NUMBERS:,} synthetic NHS numbers")
    stems = np.where(k < 1_000_000, 999_000_000 + k, 900_000_000 + (k - 1_000_000))
    checks = _checks(stems)
    for r in range(1, 9):
        bad = checks == 10
        if not bad.any():
            break
        alt = 900_000_000 + r * 10_000_000 + k[bad]
        stems[bad] = alt
        checks[bad] = _checks(alt)
    if (checks == 10).any():  # pragma: no cover - probability about 1e-9 per index
        raise RuntimeError("could not find a valid synthetic NHS number")
    return (stems * 10 + checks).astype(str)


def valid_mask(values: np.ndarray) -> np.ndarray:
    """Vectorised check-digit and format validation of an array of strings (True = valid digits)."""
    arr = np.asarray(values, dtype=object)
    ok = np.array([isinstance(v, str) and len(v) == 10 and v.isdigit() for v in arr], dtype=bool)
    out = np.zeros(arr.shape[0], dtype=bool)
    if ok.any():
        nums = np.array([int(v) for v in arr[ok]], dtype=np.int64)
        digits = (nums[:, None] // (10 ** np.arange(9, -1, -1, dtype=np.int64))) % 10
        check = 11 - (digits[:, :9] @ WEIGHTS) % 11
        check = np.where(check == 11, 0, check)
        out[ok] = (check != 10) & (check == digits[:, 9])
    return out
