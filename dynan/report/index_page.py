"""The index page of a report: one row per page, its key numbers and its sections' statuses.

Related numbers share a cell (:data:`INDEX_GROUPS`) and sections are status dots linking to
them, so a zoo's table fits a 1400-px window with rows one line tall (the browser tests check
the layout).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dynan.report.builder import _env, format_value, slug

__all__ = ["INDEX_GROUPS", "group_columns", "render_index"]


#: Index columns shown together in one cell ("0.91 / 0.85 / 0.82 / 0.84"), so the table of a
#: zoo fits a 1400-px window: (group label, ((headline key, sub-label), ...)).
INDEX_GROUPS = (
    ("accuracy", (("test accuracy", "test"), ("sinusoid accuracy", "sinusoid"),
                  ("step accuracy", "step"), ("noise accuracy", "noise"))),
    ("mean shape", (("mean n", "n"), ("mean s", "s"))),
    ("λ₁", (("λ₁", "joint"), ("λ₁ frozen", "frozen"))),
    ("fixed points", (("fixed points", "all"), ("stable fixed points", "stable"))),
    ("population α", (("population α (isolated)", "isolated"),
                      ("population α (intact)", "intact"))),
)  # fmt: skip


def group_columns(columns: Sequence[str]) -> list[tuple[str, str, tuple[str, ...]]]:
    """(label, sub-labels, headline keys) per index column, :data:`INDEX_GROUPS` merged.

    A group takes the place of its first member present; columns in no group stay alone.

    Examples
    --------
    >>> group_columns(["hidden", "test accuracy", "step accuracy", "λ₁"])
    [('hidden', '', ('hidden',)), ('accuracy', 'test / step', ('test accuracy', 'step accuracy')), ('λ₁', 'joint', ('λ₁',))]
    """  # noqa: E501
    member = {key: (label, members) for label, members in INDEX_GROUPS for key, _ in members}
    out, seen = [], set()
    for column in columns:
        if column not in member:
            out.append((column, "", (column,)))
            continue
        label, members = member[column]
        if label in seen:
            continue
        seen.add(label)
        present = [(key, sub) for key, sub in members if key in columns]
        out.append((label, " / ".join(s for _, s in present), tuple(k for k, _ in present)))
    return out


def render_index(
    entries: Sequence[Mapping[str, Any]],
    *,
    title: str,
    columns: Sequence[str],
    links: Sequence[tuple[str, str]] = (),
    notes: Sequence[str] = (),
) -> str:
    """The index page: one row per page with its link, key numbers and section statuses."""
    groups = group_columns(columns)

    def cells(entry: Mapping[str, Any]) -> list[tuple[str, bool]]:
        values = entry["values"]
        return [
            (
                " / ".join(format_value(values.get(k)) for k in keys),
                any(isinstance(values.get(k), int | float) for k in keys),
            )
            for _, _, keys in groups
        ]

    return _env.get_template("index.html").render(
        title=title,
        entries=list(entries),
        columns=groups,
        cells=cells,
        links=list(links),
        notes=list(notes),
        format_value=format_value,
        slug=slug,
    )
