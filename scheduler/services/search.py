"""Finding a client, room, staff member or series by what a coordinator types.

One rule for every list that searches (the API's `?q=` and the pages' pickers): each word
typed must begin the name or one of its words, case folded, so "jo sm" finds "John Smith"
and "smith" finds "Anna Smith-Jones". What is typed is matched literally: `%` and `_` are
not wildcards. SQLite folds only ASCII by itself, so it is given the same Unicode lower-casing
PostgreSQL has (`unicode_lower`, registered in extensions.py) and both answer the same.
"""

from sqlalchemy import String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import ColumnElement, and_, or_
from sqlalchemy.sql.functions import FunctionElement

# Long enough for any name; short enough that a pattern stays cheap.
MAX_QUERY = 100
# Words that start a name part: after a space, a hyphen or an apostrophe ("O'Brien").
_WORD_BREAKS = (" ", "-", "'")
_ESCAPE = "\\"


class folded(FunctionElement):  # noqa: N801 (a SQL function, named as SQL names them)
    """lower() as PostgreSQL does it, on SQLite too."""

    type = String()
    inherit_cache = True


@compiles(folded)
def _folded(element, compiler, **kw):
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(folded, "sqlite")
def _folded_sqlite(element, compiler, **kw):
    return f"unicode_lower({compiler.process(element.clauses, **kw)})"


def unicode_lower(value):
    """SQLite's side of `folded` (registered on every SQLite connection)."""
    return value.lower() if isinstance(value, str) else value


def _literal(term: str) -> str:
    return (term.replace(_ESCAPE, _ESCAPE * 2).replace("%", _ESCAPE + "%")
            .replace("_", _ESCAPE + "_"))


def terms(query: str) -> list[str]:
    """The words of `query`, folded; none for a blank one."""
    return query.lower().split()


def name_matches(column, query: str) -> ColumnElement[bool]:
    """Each word of `query` begins `column` or one of its words (see the module)."""
    name = folded(column)
    conditions = []
    for term in terms(query):
        literal = _literal(term)
        starts = [name.like(literal + "%", escape=_ESCAPE)]
        starts += [name.like(f"%{brk}{literal}%", escape=_ESCAPE) for brk in _WORD_BREAKS]
        conditions.append(or_(*starts))
    return and_(True, *conditions)


def filtered(statement, column, query: str | None):
    """`statement` limited to rows whose `column` matches `query`; all rows for none."""
    if query is None or not query.strip():
        return statement
    return statement.where(name_matches(column, query))


def text_matches(text: str, query: str | None) -> bool:
    """The same rule on a string already in memory: for a short list whose shown words are
    all that may be searched (the kiosk's arrivals, by first name and initial only)."""
    if query is None or not query.strip():
        return True
    name = unicode_lower(text)
    return all(name.startswith(term) or any(f"{brk}{term}" in name for brk in _WORD_BREAKS)
               for term in terms(query))
