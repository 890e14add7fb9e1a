"""Writing the studies out: claims.json, a Markdown summary and one self-contained HTML page.

The page is built with :class:`dynan.report.builder.Page` (figures embedded as base64 PNG).
Every number written is rounded to 4 significant digits and nothing time-dependent (dates,
durations, cache counts) is written, so a rerun on another machine gives the same files.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from analyses.studies.registry import Claim
from dynan.report.builder import Page, figure_item, slug, table_item, text_item, write_atomic

__all__ = ["claim_record", "clean", "markdown", "write"]


def clean(value: Any, digits: int = 4) -> Any:
    """JSON-ready: floats to ``digits`` significant digits, NaN/inf to None, tuples to lists.

    Examples
    --------
    >>> clean({"a": 0.123456789, "b": [float("nan"), 2]})
    {'a': 0.1235, 'b': [None, 2]}
    """
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if hasattr(value, "item") and not isinstance(value, list | tuple | dict):
        value = value.item()
    if isinstance(value, float):
        return None if not math.isfinite(value) else float(f"{value:.{digits}g}")
    if isinstance(value, int):
        return value
    if isinstance(value, dict):
        return {str(k): clean(v, digits) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v, digits) for v in value]
    if hasattr(value, "to_dict"):
        return clean(value.to_dict(), digits)
    return str(value)


def _section(claim: Claim) -> str:
    return f"{claim.id} — {claim.verdict}"


def _figure_path(claim: Claim, title: str) -> str:
    """Where :meth:`Page.save` writes the figure (``Item.file_name`` of its section)."""
    return f"figures/index/{slug(_section(claim))}--{slug(title)}.png"


def claim_record(claim: Claim) -> dict:
    """The claims.json entry of a claim."""
    return {
        "paper": claim.paper,
        "id": claim.id,
        "claim": claim.claim,
        "verdict": claim.verdict,
        "evidence": clean(claim.evidence),
        "figures": [_figure_path(claim, title) for title, _ in claim.figures],
    }


def _headline(claim: Claim) -> str:
    return str(claim.evidence.get("headline", ""))


def markdown(claims: Sequence[Claim], settings: Sequence[str]) -> str:
    """The Markdown summary: settings, the verdict table, and why each failing claim failed."""
    lines = [
        "# The seed papers' claims, tested with dynan",
        "",
        "Written by `make studies` (analyses/studies/); the numbers are in claims.json, the "
        "figures in index.html.",
        "",
        *[f"- {s}" for s in settings],
        "",
        "| paper | id | verdict | headline |",
        "|---|---|---|---|",
    ]
    lines += [f"| {c.paper} | {c.id} | {c.verdict} | {_headline(c)} |" for c in claims]
    lines += ["", "## Claims not reproduced, and why", ""]
    for c in claims:
        if c.verdict != "reproduced":
            why = str(c.evidence.get("why", "")).rstrip(". ") + "."
            need = c.evidence.get("to_test_properly", "")
            need = f" To test it properly: {need}" if need else ""
            lines.append(f"- **{c.id}** ({c.verdict}): {why}{need}".rstrip())
    return "\n".join(lines) + "\n"


def _comparison_rows(evidence: dict) -> list[list[Any]]:
    rows = []
    for setting, block in evidence.get("settings", {}).items():
        for comp in block.get("comparisons", []):
            rows.append(
                [
                    setting,
                    comp["label"],
                    comp["estimate"],
                    f"[{comp['low']}, {comp['high']}]",
                    comp["p_value"],
                    f"{comp['n_a']} vs {comp['n_b']}" if comp["n_b"] else comp["n_a"],
                ]
            )
    return rows


def write(
    claims: Sequence[Claim], out: str | Path, *, settings: Sequence[str] = ()
) -> dict[str, Path]:
    """Write claims.json, summary.md and index.html (+ index.json, index.md, figures/)."""
    out = Path(out)
    records = [claim_record(c) for c in claims]
    page = Page(
        "The seed papers' claims, tested",
        kind="compare",
        subtitle="Geadah et al. (2024) G1–G7 and Davari et al. (2023) D1–D4, as listed in "
        "REFERENCES.md §6; each verdict follows from the numbers by a rule fixed before the run.",
    )
    page.add(
        table_item(
            [[c.paper, c.id, c.verdict, _headline(c)] for c in claims],
            "Verdicts",
            columns=["paper", "claim", "verdict", "headline"],
        ),
        section="Verdicts",
    )
    page.add(text_item(list(settings) or ["(no settings)"], "Settings"), section="Verdicts")
    page.summary["Verdicts"] = [f"{c.id}: {c.verdict}" for c in claims]
    for claim, record in zip(claims, records, strict=True):
        section = _section(claim)
        ev = record["evidence"]
        paragraphs = [claim.claim, f"Verdict: {claim.verdict}. {ev.get('headline', '')}"]
        paragraphs += [f"Rule: {ev['rule']}"] if "rule" in ev else []
        paragraphs += [f"Criteria: {ev['criteria']}"] if "criteria" in ev else []
        paragraphs += [f"Setting: {ev['setting']}"] if "setting" in ev else []
        paragraphs += [f"Why: {ev['why']}"] if ev.get("why") else []
        paragraphs += (
            [f"To test it properly: {ev['to_test_properly']}"]
            if ev.get("to_test_properly")
            else []
        )
        page.add(text_item(paragraphs, "Claim and verdict"), section=section)
        rows = _comparison_rows(ev)
        if rows:
            page.add(
                table_item(
                    rows,
                    "Comparisons",
                    columns=["setting", "effect", "estimate", "95% CI", "p", "networks"],
                ),
                section=section,
            )
        for title, fig in claim.figures:
            page.add(figure_item(fig, title), section=section)
        page.summary[section] = [str(ev.get("headline", ""))]
    # figure names carry the verdict: clear the last build's so no stale figure stays behind
    for old in (out / "figures" / "index").glob("*.png"):
        old.unlink()
    written = page.save(out, "index")
    written["claims"] = write_atomic(
        out / "claims.json", json.dumps(records, indent=1, ensure_ascii=False) + "\n"
    )
    written["summary"] = write_atomic(out / "summary.md", markdown(claims, settings))
    return written
