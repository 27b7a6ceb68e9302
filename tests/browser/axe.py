"""axe-core (npm, pinned in the Makefile's node-deps) run in a page, and its findings put so a
developer can fix them: rule, impact, the elements' selectors and the page and state."""

from pathlib import Path

import pytest

AXE_JS = Path(__file__).resolve().parents[2] / ".cache" / "node" / "node_modules" / "axe-core" / \
    "axe.min.js"
# WCAG 2.1 A and AA: what HHS's Section 504 rule asks of providers (issue 21).
TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")
# Elements listed a violation: a list of slots repeats the same fault dozens of times.
SHOWN = 3
_RUN = """tags => axe.run(document, {runOnly: {type: 'tag', values: tags},
                                      resultTypes: ['violations']})
    .then(r => r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
        nodes: v.nodes.map(n => ({target: n.target.join(' '),
                                  summary: n.failureSummary}))})))"""


def axe_source() -> str:
    if not AXE_JS.exists():
        pytest.skip(f"axe-core is not installed at {AXE_JS}: run `make node-deps`")
    return AXE_JS.read_text(encoding="utf-8")


def load_in(context) -> None:
    """Make axe part of every document the context opens. An init script is the browser's own,
    so the app's CSP (which refuses inline scripts, as add_script_tag would be) stays on and
    axe checks the page as users get it; and the 650 kB go to the browser once, not once a
    page: a third of the walk's time went on add_script_tag."""
    context.add_init_script(script=axe_source())


def violations(page) -> list[dict]:
    """axe's WCAG 2.1 AA violations on the page as it is now (a context given load_in)."""
    return page.evaluate(_RUN, list(TAGS))


def describe(where: str, found: list[dict]) -> list[str]:
    """One line a violation, and one indented line an element it was found on."""
    lines = []
    for v in found:
        lines.append(f"{where}: {v['id']} ({v['impact']}): {v['help']}")
        for node in v["nodes"][:SHOWN]:
            summary = " ".join((node["summary"] or "").split())
            lines.append(f"    {node['target']}  — {summary[:300]}")
        if len(v["nodes"]) > SHOWN:
            lines.append(f"    … and {len(v['nodes']) - SHOWN} more elements")
    return lines
