"""The main job on a user's own data: labelled pairs without reasoning and a separate fixed test set."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from relevance_distill.builtin_world.generate import generate_dataset
from relevance_distill.config import DataGenerationConfig, PrepareDataConfig
from relevance_distill.data.prepare import InputDataError, prepare_dataset
from relevance_distill.data.validate import normalised_query
from relevance_distill.schemas import QueryServicePair, fingerprint_entries


def _write(path: Path, rows: list) -> Path:
    path.write_text("".join((row if isinstance(row, str) else json.dumps(row, ensure_ascii=False)) + "\n" for row in rows),
                    encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def own_data(tmp_path_factory) -> dict:
    """Built-in pairs stripped of reasoning (as real data comes), a test file whose queries also occur in the
    labelled file, one malformed row and one duplicate."""
    root = tmp_path_factory.mktemp("own")
    generate_dataset(DataGenerationConfig(num_services=120, num_queries=60, num_log_pairs=0, corpus_documents=0), root / "gen")
    rows = [json.loads(line) for line in (root / "gen" / "labeled.jsonl").read_text(encoding="utf-8").splitlines()]
    for row in rows:
        row["reasoning"] = None
    queries = sorted({row["query"] for row in rows})
    test_queries = set(queries[::6])
    test = [row for row in rows if row["query"] in test_queries]
    labelled = rows + ["{not json", rows[0]]
    return {"labeled": _write(root / "labeled.jsonl", labelled), "test": _write(root / "test.jsonl", test),
            "rows": len(labelled), "test_rows": test, "test_queries": {normalised_query(q) for q in test_queries},
            "root": root}


def test_run_on_own_labelled_data_with_a_fixed_test_set(own_data, tmp_path):
    workdir = tmp_path / "run"
    process = subprocess.run([sys.executable, "-m", "relevance_distill.cli", "run", "--profile", "smoke", "--workdir",
                              str(workdir), "--labeled", str(own_data["labeled"]), "--test", str(own_data["test"])],
                             capture_output=True, text=True, timeout=900)
    assert process.returncode == 0, process.stderr[-3000:] + process.stdout[-3000:]
    summary = json.loads((workdir / "summary.json").read_text())
    data = summary["data"]
    # The test set's fingerprint is the one of the file given, and the students were evaluated on exactly it.
    expected = fingerprint_entries([f"{row['pair_id']}\t{row['label']}" for row in own_data["test_rows"]])
    assert data["test"]["fingerprint"] == expected == summary["test_set_sha256"]
    assert data["test"]["source"] == str(own_data["test"]) and data["test"]["pairs"] == len(own_data["test_rows"])
    # The counts add up: every row is kept or quarantined; kept = train + dev + pairs removed for a test query.
    assert data["rows_in"] == own_data["rows"] == data["kept"] + data["quarantined"]
    assert data["quarantine_reasons"] == {"bad_json": 1, "duplicate": 1}
    prepared = workdir / "prepared"
    splits = {name: [json.loads(line) for line in (prepared / f"{name}.jsonl").read_text().splitlines()]
              for name in ("train", "dev", "test", "unlabeled")}
    assert data["kept"] == len(splits["train"]) + len(splits["dev"]) + data["test_query_leaks_removed"]
    assert data["test_query_leaks_removed"] == len(own_data["test_rows"])  # every test pair was also in the labelled file
    # No test pair and no test query reached training, dev or the pairs the teacher annotated.
    test_ids = {row["pair_id"] for row in own_data["test_rows"]}
    for name in ("train", "dev", "unlabeled"):
        assert not {row["pair_id"] for row in splits[name]} & test_ids, name
        assert not {normalised_query(row["query"]) for row in splits[name]} & own_data["test_queries"], name
    # Without logs the teacher annotates the training pairs; without reasoning the rationale step ran and said so.
    assert data["unlabeled"]["source"].startswith("training pairs") and splits["unlabeled"] == splits["train"]
    rationales = summary["teacher"]["rationales"]
    assert rationales["without_reasoning"] == len(splits["train"]) and rationales["sent"] == 16
    assert rationales["kept"] + rationales["rejected"] == rationales["sent"]
    assert rationales["answer_format"] in {"reasoning", "label_only"}
    for result in summary["students"].values():
        assert {"macro_f1", "qwk", "ordinal_macro_f1", "ordinal_qwk", "ci", "ordinal_ci"} <= set(result)
        assert result["ordinal_ci"]["qwk"][0] <= result["ordinal_qwk"] <= result["ordinal_ci"]["qwk"][1]
        # Intervals resample whole test queries, the unit the split holds out.
        assert result["ci"]["queries"] == len({QueryServicePair.model_validate(row).group_key for row in own_data["test_rows"]})
    assert "rationales" in process.stdout and "test set" in process.stdout


def _config(**settings) -> PrepareDataConfig:
    return PrepareDataConfig(**settings)


def test_a_test_set_in_another_label_scheme_is_refused_before_training(own_data, tmp_path):
    other_scheme = [{**row, "label": {"irrelevant": "irrelevant"}.get(row["label"], "substitute")} for row in own_data["test_rows"]]
    with pytest.raises(InputDataError, match=r"test file .*other_scheme.jsonl.*labels outside the label scheme .local_services.*another label scheme"):
        prepare_dataset(str(own_data["labeled"]), str(tmp_path / "out"), _config(),
                        test_uri=str(_write(tmp_path / "other_scheme.jsonl", other_scheme)))
    assert not (tmp_path / "out").exists()


def test_empty_and_missing_inputs_name_the_file(own_data, tmp_path):
    with pytest.raises(InputDataError, match=r"labelled file .*empty.jsonl.* no usable row.*bad_json 1"):
        prepare_dataset(str(_write(tmp_path / "empty.jsonl", ["{broken"])), str(tmp_path / "out"), _config())
    with pytest.raises(InputDataError, match=r"unlabelled file .*nowhere.jsonl.* does not exist"):
        prepare_dataset(str(own_data["labeled"]), str(tmp_path / "out"), _config(), unlabeled_uri=str(tmp_path / "nowhere.jsonl"))


def test_search_logs_lose_dev_and_test_queries(own_data, tmp_path):
    rows = [json.loads(line) for line in own_data["labeled"].read_text().splitlines()[:-2]]
    logs = [{**row, "label": None, "pair_id": f"log-{index}"} for index, row in enumerate(rows)]
    summary = prepare_dataset(str(own_data["labeled"]), str(tmp_path / "out"), _config(),
                              test_uri=str(own_data["test"]), unlabeled_uri=str(_write(tmp_path / "logs.jsonl", logs)))
    held_out = {normalised_query(row["query"]) for name in ("dev", "test")
                for row in map(json.loads, (tmp_path / "out" / f"{name}.jsonl").read_text().splitlines())}
    kept_logs = [json.loads(line) for line in (tmp_path / "out" / "unlabeled.jsonl").read_text().splitlines()]
    assert kept_logs and not {normalised_query(row["query"]) for row in kept_logs} & held_out
    unlabeled = summary["unlabeled"]
    assert unlabeled["rows_in"] == len(logs) == unlabeled["pairs"] + unlabeled["held_out_query_removed"] + unlabeled["quarantined"]
    assert unlabeled["held_out_query_removed"] > 0


def test_run_refuses_a_missing_file_and_an_unknown_format(tmp_path):
    missing = subprocess.run([sys.executable, "-m", "relevance_distill.cli", "run", "--profile", "smoke", "--workdir",
                              str(tmp_path / "run"), "--labeled", str(tmp_path / "absent.csv"), "--format", "crowdflower"],
                             capture_output=True, text=True, timeout=300)
    assert missing.returncode == 1 and "absent.csv" in missing.stderr and "does not exist" in missing.stderr
    unknown = subprocess.run([sys.executable, "-m", "relevance_distill.cli", "run", "--workdir", str(tmp_path / "run"),
                              "--labeled", str(tmp_path / "absent.csv"), "--format", "tsv"],
                             capture_output=True, text=True, timeout=300)
    assert unknown.returncode != 0 and "'crowdflower'" in unknown.stderr + unknown.stdout and "tsv" in unknown.stderr + unknown.stdout


def test_a_fixed_qbqtc_test_set_is_read_in_its_own_format(tmp_path):
    """`--test FILE` with `--format qbqtc`: the test file is QBQTC JSON lines like the labelled one, read by the same
    adapter; its pairs are the test set (fingerprinted) and its queries leave train and dev."""
    queries = [f"查询{index}" for index in range(40)]
    rows = [{"id": index, "query": queries[index % 40], "title": f"标题{index} {queries[index % 40]}", "label": str(index % 3)}
            for index in range(400)]
    test_rows = [{"id": 1000 + index, "query": queries[index], "title": f"测试标题{index}", "label": str(index % 3)}
                 for index in range(8)]
    labeled, test = _write(tmp_path / "train.json", rows), _write(tmp_path / "test.json", test_rows)
    summary = prepare_dataset(str(labeled), str(tmp_path / "out"), _config(input_format="qbqtc", label_scheme="qbqtc"),
                              test_uri=str(test))
    written = [json.loads(line) for line in (tmp_path / "out" / "test.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(written) == summary["test"]["pairs"] == 8
    assert summary["test"]["fingerprint"] == fingerprint_entries([f"{row['pair_id']}\t{row['label']}" for row in written])
    held_out = {normalised_query(query) for query in queries[:8]}
    for name in ("train", "dev"):
        kept = (tmp_path / "out" / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
        assert kept and not {normalised_query(json.loads(line)["query"]) for line in kept} & held_out
    assert summary["validation"]["test_query_leaks_removed"] == 80  # 10 labelled pairs for each of the 8 test queries
