"""benchmarks/method_comparison.py: the statistics (bootstrap over seeds and test queries, paired differences)
and the README table generated from its JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _predictions(rng, gold, accuracy):
    noise = rng.integers(0, 4, len(gold))
    return np.where(rng.random(len(gold)) < accuracy, gold, noise)


def test_bootstrap_intervals_and_paired_differences(comparison):
    rng = np.random.default_rng(1)
    gold = rng.integers(0, 4, 320)
    groups = np.repeat(np.arange(40), 8)
    predictions = {"crsd": {s: _predictions(rng, gold, 0.9) for s in range(3)},
                   "vanilla": {s: _predictions(rng, gold, 0.5) for s in range(3)},
                   "gold_only": {s: _predictions(rng, gold, 0.9) for s in range(2)}}
    stats = comparison.bootstrap(gold, groups, predictions, 4, resamples=200)
    for method, entry in stats["methods"].items():
        low, high = entry["macro_f1_ci"]
        assert low <= entry["macro_f1_mean"] <= high and high - low < 0.3, (method, entry)
    better = stats["paired"]["crsd_minus_vanilla"]
    assert better["ci"][0] > 0.2 and better["seeds"] == [0, 1, 2]
    same = stats["paired"]["crsd_minus_gold_only"]
    assert same["ci"][0] < 0 < same["ci"][1] and same["seeds"] == [0, 1]
    # The same resamples every time: the JSON does not change when nothing was retrained.
    assert comparison.bootstrap(gold, groups, predictions, 4, resamples=200) == stats


def test_readme_table_is_written_between_the_markers(comparison, tmp_path):
    result = {"budget": {"student_init": "minilm", "max_steps": 10, "batch_size": 32, "learning_rate": 2e-4,
                         "max_length": 96, "reasoning_max_length": 192, "test_pairs": 320, "test_queries": 40,
                         "eval_every_steps": 5},
              "teacher": {"profile": "demo", "macro_f1": 0.5}, "reference": "crsd",
              "methods": {"crsd": {"seeds": [{"steps": 10, "train_seconds": s} for s in (30, 31, 32)],
                                   "macro_f1_mean": 0.61, "macro_f1_ci": [0.55, 0.66],
                                   "qwk_mean": 0.7, "qwk_ci": [0.6, 0.8]},
                          "vanilla": {"seeds": [{"steps": 10, "train_seconds": 10}] * 3, "macro_f1_mean": 0.51,
                                      "macro_f1_ci": [0.45, 0.56], "qwk_mean": 0.6, "qwk_ci": [0.5, 0.7]}},
              "paired": {"crsd_minus_vanilla": {"mean": 0.1, "ci": [0.05, 0.15]}},
              "curves": {"crsd": {"0": [[5, 0.4], [10, 0.6]], "1": [[5, 0.5], [10, 0.7]]},
                         "vanilla": {"0": [[5, 0.3], [10, 0.5]]},
                         "vanilla_compute_matched": {"0": [[5, 0.2], [10, 0.4], [15, 0.8], [17, 0.9]],
                                                     "1": [[5, 0.4], [10, 0.6], [13, 0.7]]}}}
    table = comparison.readme_table(result)
    assert "| crsd − method, macro-F1 [95 % CI] |" in table
    assert "| vanilla | 3 | 51.0 [45.0, 56.0] | 60.0 [50.0, 70.0] | +10.0 [5.0, 15.0] | 10 | 10 |" in table
    assert "| crsd | 3 | 61.0 [55.0, 66.0] | 70.0 [60.0, 80.0] | — | 10 | 31 |" in table
    # The dev curves, mean over the seeds that reached a step, one column per step of the evaluation grid (a
    # compute-matched run's own last steps, 13 and 17 here, get none).
    assert "| method | 5 | 10 | 15 |" in table
    assert "| crsd | 45.0 | 65.0 | — |" in table and "| vanilla | 30.0 | 50.0 | — |" in table
    assert "| vanilla_compute_matched | 30.0 | 50.0 | 80.0 |" in table
    readme = tmp_path / "README.md"
    start, end = comparison.readme_markers()
    readme.write_text(f"before\n{start}\nold\n{end}\nafter\n")
    comparison.write_readme(readme, table)
    assert readme.read_text() == f"before\n{table}\nafter\n"


def test_another_reference_method_gets_the_paired_differences(comparison):
    rng = np.random.default_rng(2)
    gold = rng.integers(0, 4, 160)
    groups = np.repeat(np.arange(20), 8)
    predictions = {"crsd_no_verdict": {s: _predictions(rng, gold, 0.6) for s in range(2)},
                   "vanilla": {s: _predictions(rng, gold, 0.9) for s in range(2)}}
    stats = comparison.bootstrap(gold, groups, predictions, 4, resamples=100, reference="crsd_no_verdict")
    assert list(stats["paired"]) == ["crsd_no_verdict_minus_vanilla"]
    assert stats["paired"]["crsd_no_verdict_minus_vanilla"]["ci"][1] < 0
    # Without the default reference among the methods there is nothing to pair against.
    assert comparison.bootstrap(gold, groups, predictions, 4, resamples=100)["paired"] == {}


def test_a_reference_that_is_no_method_is_refused(comparison, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("sys.argv", ["method_comparison.py", "--only-report", "--workdir", str(tmp_path / "work"),
                                     "--reference", "crsd_fast"])
    with pytest.raises(SystemExit):
        comparison.main()
    error = capsys.readouterr().err
    assert "--reference: invalid choice: 'crsd_fast'" in error and "'crsd_no_verdict'" in error


@pytest.mark.parametrize("name, block", [("method_comparison", "method-comparison"),
                                         ("method_comparison_strong_400", "method-comparison-strong-400"),
                                         ("method_comparison_1200", "method-comparison-1200")])
def test_the_readme_tables_are_the_ones_generated_from_the_committed_results(comparison, name, block):
    results = ROOT / "benchmarks" / "results" / f"{name}.json"
    if not results.is_file():
        pytest.skip(f"no {name} results committed yet")
    readme = (ROOT / "docs" / "evidence.md").read_text(encoding="utf-8")
    assert comparison.readme_table(json.loads(results.read_text(encoding="utf-8")), block) in readme


def test_another_budget_reports_from_its_own_results_folder(comparison, tmp_path, monkeypatch, capsys):
    cache = ROOT / "benchmarks" / "results" / "method_comparison"
    committed = cache / "seed-0" / "vanilla.json"
    if not committed.is_file():
        pytest.skip("no committed seed-0 vanilla result")
    results = tmp_path / "long"
    (results / "seed-0").mkdir(parents=True)
    (results / "seed-0" / "vanilla.json").write_bytes(committed.read_bytes())
    out = tmp_path / "long.json"
    monkeypatch.setattr("sys.argv", ["method_comparison.py", "--only-report", "--cache", str(cache), "--results",
                                     str(results), "--workdir", str(tmp_path / "work"), "--seeds", "0,1",
                                     "--methods", "crsd,vanilla", "--resamples", "50", "--json", str(out)])
    comparison.main()
    assert "no paired differences: --reference crsd has no results among ['vanilla']" in capsys.readouterr().out
    report = json.loads(out.read_text(encoding="utf-8"))
    # Only what the results folder holds: the shared cache's other seeds and methods stay out of this budget.
    assert list(report["methods"]) == ["vanilla"]
    assert [entry["seed"] for entry in report["methods"]["vanilla"]["seeds"]] == [0]
    assert report["paired"] == {}
    assert report["teacher"]["macro_f1"] == json.loads((cache / "teacher.json").read_text(encoding="utf-8"))["macro_f1"]


def test_a_report_refuses_results_another_budget_made(comparison, tmp_path, monkeypatch):
    cache = ROOT / "benchmarks" / "results" / "method_comparison"
    if not (cache / "seed-0" / "vanilla.json").is_file():
        pytest.skip("no committed seed-0 vanilla result")
    # The committed 400-step results reported as a 1,200-step budget would carry the wrong budget into the JSON.
    monkeypatch.setattr("sys.argv", ["method_comparison.py", "--only-report", "--cache", str(cache), "--workdir",
                                     str(tmp_path / "work"), "--seeds", "0", "--methods", "vanilla",
                                     "--student-overrides", '{"max_steps": 1200, "eval_every_steps": 100}',
                                     "--json", str(tmp_path / "wrong.json")])
    with pytest.raises(SystemExit, match="trained with other settings"):
        comparison.main()
    assert not (tmp_path / "wrong.json").exists()


def test_named_differences_pair_a_one_seed_teacher_with_a_student_and_the_table_lists_them(comparison):
    rng = np.random.default_rng(3)
    gold = rng.integers(0, 4, 320)
    groups = np.repeat(np.arange(40), 8)
    teacher = _predictions(rng, gold, 0.95)
    teacher[:5] = -1  # unparsed answers count as wrong
    predictions = {"teacher": {0: teacher},
                   "gold_augmented": {s: _predictions(rng, gold, 0.6) for s in range(3)},
                   "crsd_no_verdict": {s: _predictions(rng, gold, 0.6) for s in range(3)}}
    stats = comparison.bootstrap(gold, groups, predictions, 4, resamples=200,
                                 differences=[("teacher", "gold_augmented"), ("crsd_no_verdict", "gold_augmented")])
    assert list(stats["paired"]) == ["teacher_minus_gold_augmented", "crsd_no_verdict_minus_gold_augmented"]
    better = stats["paired"]["teacher_minus_gold_augmented"]
    assert better["ci"][0] > 0.1 and better["seeds"] == {"teacher": [0], "gold_augmented": [0, 1, 2]}
    level = stats["paired"]["crsd_no_verdict_minus_gold_augmented"]
    assert level["ci"][0] < 0 < level["ci"][1] and level["seeds"] == [0, 1, 2]
    result = {"budget": {"student_init": "minilm", "max_steps": 10, "batch_size": 32, "learning_rate": 2e-4,
                         "max_length": 96, "reasoning_max_length": 192, "test_pairs": 320, "test_queries": 40,
                         "eval_every_steps": 5},
              "teacher": {"profile": "counterfactual", "macro_f1": 0.9, "dev": {"macro_f1": 0.88}}, "reference": None,
              "methods": {m: {"seeds": [{"steps": 10, "train_seconds": 20}] * 3, "macro_f1_mean": 0.6,
                              "macro_f1_ci": [0.55, 0.65], "qwk_mean": 0.7, "qwk_ci": [0.6, 0.8]}
                          for m in ("gold_augmented", "crsd_no_verdict")},
              "paired": {"teacher_minus_gold_augmented": {"mean": 0.3, "ci": [0.25, 0.35]}}, "curves": {}}
    table = comparison.readme_table(result, "distillation")
    assert "Teacher counterfactual: dev macro-F1 88.0, test macro-F1 90.0." in table
    assert "| gold_augmented | 3 | 60.0 [55.0, 65.0] | 70.0 [60.0, 80.0] | 10 | 20 |" in table
    assert "| teacher − gold_augmented | +30.0 [25.0, 35.0] |" in table and "None" not in table
    # With each method's best dev figure recorded (what a choice between methods reads), the table shows it.
    for method, dev in (("gold_augmented", 0.812), ("crsd_no_verdict", 0.845)):
        result["methods"][method]["best_dev_macro_f1_mean"] = dev
    table = comparison.readme_table(result, "distillation")
    assert "| method | seeds | best dev macro-F1, mean | test macro-F1 [95 % CI] |" in table
    assert "| crsd_no_verdict | 3 | 84.5 | 60.0 [55.0, 65.0] | 70.0 [60.0, 80.0] | 10 | 20 |" in table


def test_new_cells_must_train_in_the_precision_of_the_cached_ones(comparison, monkeypatch, tmp_path):
    from relevance_distill.config import student_config_for

    cache = ROOT / "benchmarks" / "results" / "distillation_comparison"
    cells = [json.loads(path.read_text(encoding="utf-8")) for path in sorted(cache.glob("seed-*/*.json"))]
    if not cells:
        pytest.skip("no distillation_comparison cells committed")
    # Those cells predate the recorded precision: it is read from their AMP setting and CPU flags.
    assert {comparison.cell_precision(cell) for cell in cells} == {"bf16_autocast"}
    fp32_cell = {**cells[0], "training": {**cells[0]["training"], "precision": "fp32"}}
    assert comparison.cell_precision(fp32_cell) == "fp32"
    assert comparison.cell_precision({**cells[0], "settings": {**cells[0]["settings"], "amp": False}}) == "fp32"
    # On a CPU whose bf16 oneDNN may not use, the same settings train in fp32: refused beside bf16 cells, with the fix.
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    config = student_config_for("full", amp=True, device="cpu")
    with pytest.raises(SystemExit, match=r"trained in \['bf16_autocast'\].*this machine trains in fp32.*own --cache"):
        comparison.require_one_precision(cells, config, cache)
    assert comparison.require_one_precision([fp32_cell], config, cache) == "fp32"
    assert comparison.require_one_precision([], config, tmp_path) == "fp32"


def test_a_cell_prints_its_dev_figure_and_only_the_report_prints_test(comparison, tmp_path, monkeypatch, capsys):
    """Choices are made on dev: as cells finish, the log shows each one's best dev figure, never its test figure."""
    cache = ROOT / "benchmarks" / "results" / "distillation_comparison"
    cell = json.loads((cache / "seed-0" / "vanilla.json").read_text(encoding="utf-8"))
    monkeypatch.setattr("sys.argv", ["method_comparison.py", "--teacher-profile", "counterfactual", "--methods", "vanilla",
                                     "--seeds", "0", "--student-overrides", '{"max_steps": 1200, "eval_every_steps": 100}',
                                     "--cache", str(cache), "--workdir", str(tmp_path / "work"), "--resamples", "20",
                                     "--json", str(tmp_path / "report.json")])
    comparison.main()  # the cell is cached: nothing trains
    out = capsys.readouterr().out
    best = cell["training"]["best_dev_macro_f1"]
    assert f"seed 0 vanilla: best dev macro-F1 {best:.4f} at step {cell['training']['best_step']}" in out
    assert f"{cell['test']['macro_f1']:.4f}" not in out.split("seed 0 vanilla:")[1].splitlines()[0]
