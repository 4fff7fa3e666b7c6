"""docs/teacher.md's give-up table is generated from the probe's result files, and each file's verdict follows from its
checks under the rule the SFT applies."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_docs_table_is_the_result_files(give_up_probe):
    documents = [json.loads((give_up_probe.RESULTS / name).read_text(encoding="utf-8")) for name in give_up_probe.RESULT_FILES]
    for document in documents:
        assert {"commit", "command", "date", "cpu", "cpu_flags", "threads"} <= set(document["provenance"])
        streak, stops = 0, {}
        for check in document["checks"]:
            assert check["collapsed"] == (check["distinct_labels"] <= 1)
            streak = streak + 1 if check["collapsed"] else 0
            if streak:
                stops.setdefault(f"give_up_checks={streak}", check["step"])
        assert document["would_stop_at_step"] == stops
    assert give_up_probe.markdown_table(documents) in (ROOT / "docs" / "teacher.md").read_text(encoding="utf-8")


def test_the_table_says_where_the_demo_profile_stops(give_up_probe):
    provenance = {"cpu": "CPU", "cpu_flags": ["avx2"], "commit": "a" * 40}
    learner = {"setup": {"data": "built-in", "format": "jsonl", "steps": 500}, "provenance": provenance,
               "majority_macro_f1": 0.139, "would_stop_at_step": {"give_up_checks=1": 250},
               "checks": [{"step": 250, "dev_macro_f1": 0.05, "distinct_labels": 1},
                          {"step": 500, "dev_macro_f1": 0.2, "distinct_labels": 4}]}
    collapsed = {**learner, "setup": {"data": "f.csv", "format": "crowdflower", "steps": 500},
                 "would_stop_at_step": {"give_up_checks=1": 250, "give_up_checks=2": 500}}
    table = give_up_probe.markdown_table([learner, collapsed]).splitlines()
    assert table[2].endswith("| 0.139 | 250: 0.050 (1), 500: 0.200 (4) | never (trained 500 steps) |")
    assert table[3].startswith("| crowdflower (`f.csv`) | CPU, avx2, commit aaaaaaa |") and table[3].endswith("| step 500 |")
