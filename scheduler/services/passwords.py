"""The one place passwords and kiosk PINs are hashed and checked.

Hashing is slow on purpose (scrypt, werkzeug's default), which is right for a clinic and
costly for a test suite that signs in thousands of times. So the method is a setting,
PASSWORD_HASH_METHOD, as Django's test settings swap in a fast hasher; production refuses
anything but scrypt (config.ProductionConfig.check). A stored hash names its own method, so
changing the setting never locks anyone out: old hashes still check.
"""

from werkzeug.security import check_password_hash, generate_password_hash

DEFAULT_METHOD = "scrypt"

_method = DEFAULT_METHOD
# Checked against when the email is unknown, so both paths cost one hash of the same method.
_dummy: dict[str, str] = {}


def use_method(method: str) -> None:
    """Hash new secrets with `method` (a werkzeug method string such as "scrypt")."""
    global _method
    generate_password_hash("check-the-method", method=method)  # refuses an unknown method
    _method = method


def method() -> str:
    return _method


def hash_secret(secret: str) -> str:
    return generate_password_hash(secret, method=_method)


def matches(stored_hash: str, secret: str) -> bool:
    return check_password_hash(stored_hash, secret)


def spend_one_check(secret: str) -> None:
    """Cost what checking a real hash costs, when there is no hash to check."""
    if _method not in _dummy:
        _dummy[_method] = generate_password_hash("timing-equaliser-not-a-password", method=_method)
    check_password_hash(_dummy[_method], secret)
