"""The page model: a list of content items rendered through Jinja templates into one HTML file.

A :class:`Page` holds :class:`Item` records (figure, table, text, error) grouped by section.
Every addition goes through one funnel, :meth:`Page._add_or_replace`, which appends an item or,
with ``replace=True``, swaps the item of the same section and title in place (the pattern of
MNE-Python's ``Report``). Figures are rasterised to PNG when added (and the matplotlib figure
closed), so a page holds bytes, not live figures. :meth:`Page.save` writes, each atomically
(temporary file + ``os.replace``): every figure as a PNG file, the self-contained HTML page with
the same PNGs embedded as base64, a results JSON (:class:`PageResult`) and a short Markdown
summary. An interrupted run therefore never leaves a half-written page.

Cost: rendering is linear in the total size of the figures (base64 adds a third).
"""

from __future__ import annotations

import base64
import dataclasses
import io
import math
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from dynan.results import Result

__all__ = [
    "Item",
    "Page",
    "PageResult",
    "Section",
    "SectionStatus",
    "error_item",
    "figure_item",
    "format_value",
    "slug",
    "table_item",
    "text_item",
    "write_atomic",
]

KINDS = ("figure", "table", "text", "error")

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("dynan.report", "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def slug(text: str) -> str:
    """A file- and anchor-safe name: ``"Lyapunov spectrum (λ₁)"`` → ``lyapunov-spectrum``."""
    out = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return out or "item"


def format_value(value: Any, *, digits: int = 3) -> str:
    """A short human-readable string: floats to ``digits`` significant digits, NaN as "–"."""
    if isinstance(value, bool) or value is None:
        return "–" if value is None else str(value)
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        return f"{value:.{digits}g}"
    if isinstance(value, list | tuple):
        return ", ".join(format_value(v, digits=digits) for v in value)
    return str(value)


def write_atomic(path: str | os.PathLike, data: str | bytes) -> Path:
    """Write ``data`` to ``path`` through a unique temporary file renamed into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; pages are meant to be shared and served
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


@dataclass(frozen=True)
class Item:
    """One piece of content.

    ``data`` depends on ``kind``: figure → PNG bytes; table → ``{"columns": [...], "rows":
    [[str, ...], ...]}``; text → a tuple of paragraphs; error → the one-line message.
    """

    kind: str
    title: str
    data: Any
    section: str = ""
    caption: str = ""
    tags: tuple[str, ...] = ()

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"item kind must be one of {KINDS}, got {self.kind!r}")
        if not self.title:
            raise ValueError("an item needs a non-empty title")

    @property
    def key(self) -> tuple[str, str]:
        return self.section, self.title

    @property
    def file_name(self) -> str:
        """File name of a figure item's PNG."""
        return f"{slug(self.section)}--{slug(self.title)}.png"


def figure_item(fig: Figure, title: str, *, caption: str = "", dpi: int = 110) -> Item:
    """Rasterise ``fig`` to PNG (then close it) as a figure item."""
    buffer = io.BytesIO()
    # no metadata: the PNG depends on the figure only, not on matplotlib's version string
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    png = buffer.getvalue()
    if not png:
        raise ValueError(f"figure {title!r} rendered to an empty PNG")
    return Item("figure", title, png, caption=caption)


def table_item(
    rows: Sequence[Sequence[Any]] | Sequence[Mapping[str, Any]],
    title: str,
    *,
    columns: Sequence[str] | None = None,
    caption: str = "",
) -> Item:
    """A table from a list of rows (sequences with ``columns``, or mappings keyed by column)."""
    rows = list(rows)
    if columns is None:
        if not rows or not isinstance(rows[0], Mapping):
            raise ValueError(f"table {title!r}: give columns= or rows as mappings")
        columns = list(rows[0])
    columns = [str(c) for c in columns]
    cells = []
    for i, row in enumerate(rows):
        values = [row.get(c) for c in columns] if isinstance(row, Mapping) else list(row)
        if len(values) != len(columns):
            raise ValueError(
                f"table {title!r}: row {i} has {len(values)} cells, expected {len(columns)}"
            )
        cells.append([format_value(v) for v in values])
    return Item("table", title, {"columns": columns, "rows": cells}, caption=caption)


def text_item(text: str | Sequence[str], title: str) -> Item:
    """Plain text (escaped on rendering), one paragraph per string."""
    paragraphs = (text,) if isinstance(text, str) else tuple(text)
    return Item("text", title, paragraphs)


def error_item(message: str, title: str = "Error") -> Item:
    """The one-line error of a section that could not be computed."""
    return Item("error", title, message.strip().splitlines()[0] if message.strip() else "error")


@dataclass(frozen=True)
class SectionStatus:
    """How one section went: ``status`` is "ok", "failed" or "not applicable"."""

    title: str
    status: str
    message: str = ""
    seconds: float = 0.0


@dataclass
class Section:
    """What a section function returns: its items, result records and summary lines."""

    title: str
    items: list[Item] = field(default_factory=list)
    results: dict[str, Result] = field(default_factory=dict)
    summary: list[str] = field(default_factory=list)
    headline: dict[str, Any] = field(default_factory=dict)
    status: str = "ok"
    message: str = ""
    seconds: float = 0.0

    @classmethod
    def failed(cls, title: str, err: BaseException) -> Section:
        """A section showing the one-line error ``err`` instead of its content."""
        message = f"{type(err).__name__}: {str(err).strip() or 'no message'}".splitlines()[0]
        return cls(title, [error_item(message)], status="failed", message=message)

    @classmethod
    def not_applicable(cls, title: str, reason: str) -> Section:
        """A section that does not apply to this network (e.g. shape parameters of a GRU)."""
        return cls(
            title, [text_item(reason, "Not applicable")], status="not applicable", message=reason
        )


@dataclass(frozen=True)
class PageResult(Result):
    """The results JSON written beside each page.

    Attributes
    ----------
    title : str
    kind : str
        "checkpoint" or "compare".
    checkpoints : tuple of dict
        name, path, sha256 and architecture of each checkpoint on the page.
    sections : tuple of dict
        title, status and message of each section (their seconds stay in
        :attr:`Page.sections`: a rebuilt page must be byte-identical).
    results : dict
        section title → {result name → the result's ``to_dict()``}.
    summary : dict
        section title → list of summary lines (also in the Markdown file).
    headline : dict
        The page's key numbers (shown on the index), e.g. test accuracy and λ₁.
    """

    title: str
    kind: str
    checkpoints: tuple
    sections: tuple
    results: dict
    summary: dict
    headline: dict


class Page:
    """A report page: sections of items, rendered to one self-contained HTML file.

    Parameters
    ----------
    title : str
    kind : {"checkpoint", "compare"}
    subtitle : str
        One line under the title.
    checkpoints : sequence of dict
        Provenance of the checkpoints shown (name, path, sha256, architecture).

    Examples
    --------
    >>> from dynan.report.builder import Page, text_item
    >>> page = Page("demo", kind="checkpoint")
    >>> page.add(text_item("hello", "Greeting"), section="Intro")
    >>> page.add(text_item("hello again", "Greeting"), section="Intro", replace=True)
    >>> [item.data for item in page.items]
    [('hello again',)]
    """

    def __init__(
        self,
        title: str,
        *,
        kind: str = "checkpoint",
        subtitle: str = "",
        checkpoints: Sequence[Mapping[str, Any]] = (),
    ):
        if kind not in ("checkpoint", "compare"):
            raise ValueError(f"page kind must be 'checkpoint' or 'compare', got {kind!r}")
        self.title = title
        self.kind = kind
        self.subtitle = subtitle
        self.checkpoints = [dict(c) for c in checkpoints]
        self.items: list[Item] = []
        self.sections: dict[str, SectionStatus] = {}
        self.results: dict[str, dict[str, Result]] = {}
        self.summary: dict[str, list[str]] = {}
        self.headline: dict[str, Any] = {}

    # -- the funnel -------------------------------------------------------------------------
    def _add_or_replace(self, item: Item, *, replace: bool) -> None:
        if item.section not in self.sections:
            self.sections[item.section] = SectionStatus(item.section, "ok")
        keys = [i.key for i in self.items]
        if item.key in keys:
            if not replace:
                raise ValueError(
                    f"page {self.title!r} already has {item.title!r} in section "
                    f"{item.section!r}; pass replace=True to replace it"
                )
            self.items[keys.index(item.key)] = item
        else:
            self.items.append(item)

    def add(self, item: Item, *, section: str, replace: bool = False) -> None:
        """Add one item to ``section`` (replacing the item of the same title if ``replace``)."""
        self._add_or_replace(dataclasses.replace(item, section=section), replace=replace)

    def add_figure(
        self, fig: Figure, title: str, *, section: str, caption: str = "", replace: bool = False
    ) -> None:
        """Add a matplotlib figure (rasterised now, then closed)."""
        self.add(figure_item(fig, title, caption=caption), section=section, replace=replace)

    def add_section(self, content: Section, *, replace: bool = False) -> None:
        """Add every item of a section function's output, with its status and results."""
        if replace:
            self.items = [i for i in self.items if i.section != content.title]
        for item in content.items:
            self.add(item, section=content.title, replace=replace)
        self.sections[content.title] = SectionStatus(
            content.title, content.status, content.message, round(content.seconds, 3)
        )
        self.results[content.title] = dict(content.results)
        self.summary[content.title] = list(content.summary)
        self.headline.update(content.headline)

    # -- output -----------------------------------------------------------------------------
    @property
    def figures(self) -> list[Item]:
        return [i for i in self.items if i.kind == "figure"]

    def result(self) -> PageResult:
        """The page's results record (what is written as JSON beside the HTML)."""
        return PageResult(
            title=self.title,
            kind=self.kind,
            checkpoints=tuple(self.checkpoints),
            # without the seconds: what is written must not change when the page is rebuilt
            sections=tuple(
                {"title": s.title, "status": s.status, "message": s.message}
                for s in self.sections.values()
            ),
            results={
                title: {name: r.to_dict() for name, r in results.items()}
                for title, results in self.results.items()
            },
            summary=dict(self.summary),
            headline=dict(self.headline),
        )

    def render(self, *, links: Sequence[tuple[str, str]] = (), figure_dir: str = "") -> str:
        """The HTML page (figures embedded as base64 PNG); ``links`` are (label, href) pairs."""
        blocks = []
        for title, status in self.sections.items():
            items = []
            for item in (i for i in self.items if i.section == title):
                entry = {"item": item, "src": "", "file": ""}
                if item.kind == "figure":
                    entry["src"] = "data:image/png;base64," + base64.b64encode(item.data).decode()
                    entry["file"] = f"{figure_dir}/{item.file_name}" if figure_dir else ""
                items.append(entry)
            blocks.append(
                {"title": title, "anchor": slug(title), "status": status, "items": items}
            )
        return _env.get_template("page.html").render(page=self, sections=blocks, links=list(links))

    def markdown(self) -> str:
        """A short Markdown summary: provenance, then each section's status and key lines."""
        lines = [f"# {self.title}", ""]
        if self.subtitle:
            lines += [self.subtitle, ""]
        for ckpt in self.checkpoints:
            lines.append(
                f"- `{ckpt.get('name')}` ({ckpt.get('architecture')}), sha256 "
                f"`{str(ckpt.get('sha256', ''))[:12]}`"
            )
        if self.checkpoints:
            lines.append("")
        for title, status in self.sections.items():
            lines.append(f"## {title}")
            lines.append("")
            if status.status != "ok":
                lines.append(f"*{status.status}*: {status.message}")
            lines.extend(f"- {line}" for line in self.summary.get(title, []))
            lines.append("")
        return "\n".join(lines)

    def save(
        self, directory: str | os.PathLike, name: str, *, links: Sequence[tuple[str, str]] = ()
    ) -> dict[str, Path]:
        """Write ``name.html``, ``name.json``, ``name.md`` and ``figures/name/*.png``.

        Figures first, the HTML last, each file atomically: an interrupted save leaves the
        previous page (or none), never a broken one. Returns the written paths by kind.
        """
        directory = Path(directory)
        figure_dir = f"figures/{name}"
        written: dict[str, Path] = {}
        for item in self.figures:
            write_atomic(directory / figure_dir / item.file_name, item.data)
        written["json"] = directory / f"{name}.json"
        write_atomic(written["json"], self.result().to_json())
        written["markdown"] = write_atomic(directory / f"{name}.md", self.markdown())
        written["html"] = write_atomic(
            directory / f"{name}.html", self.render(links=links, figure_dir=figure_dir)
        )
        return written
