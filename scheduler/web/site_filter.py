"""The staff pages' site filter: "my sites" by default, widened by `?site=` (issue 19).

A network's week, client list and reports are too big to show whole, and most people work at
one or two sites, so /week, /clients, /reports and /follow-up show "my sites"
(scope.my_site_ids) unless the address asks for another: `?site=<id>` for one site,
`?site=all` for every site the caller may see. A coordinator scoped to sites can never widen
past them (another site's id is a 404, as if it did not exist); an admin, an unscoped
coordinator or a clinician can. Pages say in words which sites they show.
"""

from dataclasses import dataclass

from flask_login import current_user
from sqlalchemy import select

from scheduler.extensions import db
from scheduler.i18n import gettext as _
from scheduler.models import Program, Site
from scheduler.services import scope
from scheduler.web.query_args import BadQuery, _raw, _whole_number

EVERY = "all"
# Past this many names a label counts the rest.
NAMED = 3


@dataclass(frozen=True)
class SiteChoice:
    """What a page shows: `site_ids` (None: every site), `value` the `?site=` its links carry
    ("" for the default), `label` those sites in words, `options` the filter's select."""

    site_ids: frozenset[int] | None
    value: str
    label: str
    options: list[tuple[str, str]]

    @property
    def args(self) -> dict:
        """The query the page's own links keep (nothing for the default)."""
        return {"site": self.value} if self.value else {}

    @property
    def offered(self) -> bool:
        """Whether there is anything to choose between."""
        return len(self.options) > 1


def label_of(names: list[str]) -> str:
    if len(names) <= NAMED:
        return " · ".join(names)
    return " · ".join(names[:NAMED]) + " " + _("and %(count)s more sites",
                                                count=len(names) - NAMED)


def _names(site_ids: frozenset[int] | None) -> list[tuple[int, str]]:
    query = select(Site.id, Site.name).where(scope.sites_filter(Site.id))
    if site_ids is not None:
        query = query.where(Site.id.in_(site_ids))
    return list(db.session.execute(query.order_by(Site.name, Site.id)).tuples())


def _words(site_ids: frozenset[int] | None, visible: list[tuple[int, str]]) -> str:
    if site_ids is None:
        return _("All sites")
    return (label_of([name for site_id, name in visible if site_id in site_ids])
            or _("No sites"))


def site_choice(program: Program | None = None, *, asked: bool = True) -> SiteChoice:
    """The sites this page shows, from `?site=` or the caller's own; 400 for a malformed
    value, 404 for a site that does not exist for the caller. A `program` the address names
    (an old bookmark's `?program=`) brings its site along when `?site=` does not say.
    `asked=False`: the default, whatever the address says (a page showing why it refused)."""
    user = current_user if current_user.is_authenticated else None
    limit = scope.current()
    mine = scope.my_site_ids(db.session, user)
    if mine is not None and limit is not None:
        mine = mine & limit
    visible = _names(None)
    raw = _raw("site") if asked else ""
    if not raw and program is not None and mine is not None and program.site_id not in mine:
        raw = str(program.site_id)
    if not raw:
        site_ids = mine
    elif raw == EVERY:
        site_ids = limit
    else:
        number = _whole_number("site", raw)
        if number not in {site_id for site_id, _ in visible}:
            raise BadQuery("site", _("there is no such site."), 404)
        site_ids = frozenset({number})
    default = (_("My sites: %(sites)s", sites=_words(mine, visible)) if mine is not None
               else _("All sites"))
    options = [("", default)]
    if mine is not None and limit is None:
        options.append((EVERY, _("All sites")))
    if len(visible) > 1:
        options += [(str(site_id), name) for site_id, name in visible]
    value = raw if raw and (raw != EVERY or mine is not None) else ""
    return SiteChoice(site_ids=site_ids, value=value, label=_words(site_ids, visible),
                      options=options)
