"""CHECK constraints built from the tuples the code validates against."""


def one_of(column: str, values: tuple[str, ...]) -> str:
    """`column IN ('a', 'b')` from the code's own tuple, so the database and the validation
    cannot list different values. A value added to the tuple still needs a migration that
    rewrites the constraint (tests/test_migrations.py compares the two)."""
    if not values or any("'" in value for value in values):
        raise ValueError(f"{column}: allowed values must be plain words, not {values!r}")
    return f"{column} IN (" + ", ".join(f"'{value}'" for value in values) + ")"
