"""`model.html`: the trained model as pictures, one self-contained file (no network).

Splink's own charts (match weights and m/u parameters per comparison level) plus two of
ours from the scored pairs of the training run: the distribution of the best candidate's
match probability per open record, and how many records fall in each decision band.
The chart libraries (vega, vega-lite, vega-embed) are Splink's bundled copies, inlined once.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import duckdb

from linker.config import Config
from linker.db import rows
from linker.scoring.inputs import quiet_splink, splink_linker
from linker.scoring.model import Model
from linker.splink_api import chart_libraries


def write_model_report(
    con: duckdb.DuckDBPyConnection, model: Model, scored: dict, config: Config, path: Path
) -> None:
    with quiet_splink():
        linker = splink_linker(con, model.settings)
        charts = [
            ("Match weight of each comparison level", linker.visualisations.match_weights_chart()),
            ("m and u probabilities", linker.visualisations.m_u_parameters_chart()),
        ]
        specs = [(title, c.chart_dict) for title, c in charts]
    sc = config.scoring
    specs.append(("Best candidate per open record: match probability", _histogram(con, sc)))
    specs.append(("Open records per decision", _bands(con)))
    libs = chart_libraries()
    training = model.meta["training"]
    summary = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in [
            *training.items(),
            ("accept", sc.accept),
            ("review", sc.review),
            ("margin (match-weight bits)", sc.margin),
            *((f"scored: {k}", v) for k, v in scored.items()),
        ]
    )
    comps = ", ".join(
        f"{c['field']} ({c['kind']}{', tf' if c['tf'] else ''})" for c in model.comparisons
    )
    body = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>linker model — {html.escape(config.name)}</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
        "th{text-align:left;padding-right:1em}section{margin:2em 0}</style>",
        *(f"<script>{libs[n]}</script>" for n in ("vega", "vega-lite", "vega-embed")),
        "</head><body>",
        f"<h1>linker model — {html.escape(config.name)}</h1>",
        f"<p>Comparisons: {html.escape(comps)}.</p>",
        f"<table>{summary}</table>",
    ]
    for i, (title, spec) in enumerate(specs):
        body += [
            f"<section><h2>{html.escape(title)}</h2><div id='chart{i}'></div></section>",
            f"<script>vegaEmbed('#chart{i}', {json.dumps(spec, default=float)}, "
            "{actions: false});</script>",
        ]
    body.append("</body></html>")
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text("\n".join(body), encoding="utf-8")
    tmp.replace(path)


def _histogram(con, sc) -> dict:
    values = [
        {"bin": round(b, 2), "band": band, "records": n}
        for b, band, n in rows(
            con,
            f"""
            SELECT floor(probability * 20) / 20 AS bin,
                   CASE WHEN probability >= {sc.accept} THEN 'accept'
                        WHEN probability >= {sc.review} THEN 'review' ELSE 'drop' END AS band,
                   count(*)
            FROM score_decision GROUP BY ALL ORDER BY ALL
            """,
        )
    ]
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "width": 700,
        "data": {"values": values},
        "mark": "bar",
        "encoding": {
            "x": {
                "field": "bin",
                "type": "quantitative",
                "bin": {"binned": True, "step": 0.05},
                "title": "match probability of the best candidate",
            },
            "x2": {"field": "bin_end"},
            "y": {"field": "records", "type": "quantitative", "title": "open records"},
            "color": {
                "field": "band",
                "type": "nominal",
                "scale": {"domain": ["drop", "review", "accept"]},
            },
        },
        "transform": [{"calculate": "datum.bin + 0.05", "as": "bin_end"}],
    }


def _bands(con) -> dict:
    values = [
        {"decision": d, "why": w or "", "records": n}
        for d, w, n in rows(
            con, "SELECT decision, why, count(*) FROM score_decision GROUP BY ALL ORDER BY ALL"
        )
    ]
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "width": 500,
        "data": {"values": values},
        "mark": "bar",
        "encoding": {
            "y": {"field": "decision", "type": "nominal", "sort": ["link", "review", "drop"]},
            "x": {"field": "records", "type": "quantitative"},
            "color": {"field": "why", "type": "nominal"},
            "tooltip": [{"field": "why"}, {"field": "records"}],
        },
    }
