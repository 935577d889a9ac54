"""The sweep report page: a Pareto panel for every pair of objectives, the front highlighted,
every point in the table; `accelsim report SWEEP_DIR` renders it from results.csv."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
from click.testing import CliRunner

from accelsim.report.sweep_html import render_sweep_html
from accelsim.sweep.pareto import pareto_mask
from accelsim.sweep.spec import Objective


def _frame() -> pd.DataFrame:
    rows = []
    for i, (rows_, lat, en, area) in enumerate([(16, 4e-4, 5e-4, 7.0), (32, 3e-4, 6e-4, 9.0), (64, 2.5e-4, 9e-4, 20.0),
                                                (64, 5e-4, 9.5e-4, 25.0)]):
        rows.append({"index": i, "config": i, "workload": "gpt2-tiny[seq=128]", "arrays[0].rows": rows_,
                     "latency_s": lat, "energy_j": en, "area_mm2": area, "status": "ok", "error": None})
    rows.append({"index": 4, "config": 4, "workload": "gpt2-tiny[seq=128]", "arrays[0].rows": 128,
                 "latency_s": None, "energy_j": None, "area_mm2": None, "status": "error", "error": "too big"})
    df = pd.DataFrame(rows)
    objs = [Objective(metric="latency_s", direction="min"), Objective(metric="energy_j", direction="min"),
            Objective(metric="area_mm2", direction="min")]
    df["pareto"] = pareto_mask(df, objs)
    return df


def test_every_objective_pair_is_plotted() -> None:
    df = _frame()
    objs = [("latency_s", "min"), ("energy_j", "min"), ("area_mm2", "min")]
    page = render_sweep_html(df, objs, ["arrays[0].rows"], "grid", "5 points")
    assert page.count('<svg class="chart"') == 3  # latency-energy, latency-area, energy-area
    for a, b in (("latency_s", "energy_j"), ("latency_s", "area_mm2"), ("energy_j", "area_mm2")):
        assert f'aria-label="{a} vs {b}"' in page
    n_front = int(df["pareto"].sum())
    assert n_front == 3  # point 3 is dominated by point 2 in every objective
    assert page.count('fill="#b42318"') == 3 * n_front
    assert f"Pareto front ({n_front} of 4 successful points)" in page
    assert len(re.findall(r'<tr class="front">', page)) == n_front and page.count('<tr class="fail">') == 1
    assert "too big" in page and "latency_s (s)" in page
    assert "://" not in page and "Content-Security-Policy" in page
    assert render_sweep_html(df, objs, ["arrays[0].rows"], "grid", "5 points") == page


def test_single_objective_and_report_command(tmp_path: Path) -> None:
    from accelsim.cli import main
    from accelsim.sweep.store import Store

    df = _frame()
    page = render_sweep_html(df, [("latency_s", "min")], ["arrays[0].rows"], "one", "")
    assert page.count('<svg class="chart"') == 1 and 'aria-label="latency_s vs index"' in page
    d = tmp_path / "sweep"
    d.mkdir()
    df.to_csv(d / "results.csv", index=False)
    with Store(d / "sweep.sqlite") as st:
        st.set_meta("sweep", {"name": "grid", "spec": {"parameters": {"arrays[0].rows": [16, 32, 64, 128]},
                                                       "objectives": [{"metric": "latency_s", "direction": "min"},
                                                                      {"metric": "energy_j", "direction": "min"}]}})
    r = CliRunner().invoke(main, ["report", str(d)])
    assert r.exit_code == 0, r.output
    out = (d / "report.html").read_text(encoding="utf-8")
    assert out.count('<svg class="chart"') == 1 and "arrays[0].rows=64" in out
