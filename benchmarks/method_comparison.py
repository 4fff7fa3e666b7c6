"""CRSD against its baselines and ablations: several seeds, bootstrap confidence intervals, paired differences.

    python benchmarks/method_comparison.py [--workdir runs/method-comparison] [--seeds 0,1,2] [--methods …] \
        [--teacher-profile demo | --teacher-model-uri DIR [--teacher-model-profile TEXT]] [--student-overrides JSON] \
        [--json benchmarks/results/method_comparison.json] [--readme docs/evidence.md [--readme-block NAME]] [--reference METHOD]
        [--differences A-B,…]

The comparison that separates distillation from extra labelled data (docs/evidence.md):

    python benchmarks/method_comparison.py --teacher-profile counterfactual \
        --methods gold_only,gold_augmented,vanilla,crsd_no_verdict,crsd_chain_view --seeds 0,1,2 \
        --student-overrides '{"max_steps": 1200, "eval_every_steps": 100}' \
        --cache benchmarks/results/distillation_comparison --workdir runs/distillation-comparison \
        --differences crsd_no_verdict-gold_augmented,teacher-gold_augmented,vanilla-gold_augmented,gold_augmented-gold_only,crsd_no_verdict-vanilla,crsd_chain_view-crsd_no_verdict \
        --json benchmarks/results/method_comparison.json --readme docs/evidence.md

Data: the main job's built-in data and splits (``data.prepare.prepare_builtin``). Teacher: trained here with a
teacher profile (CPT → SFT → reward → DPO, ``teacher/run.py``) or an existing model; it annotates the search-log
pairs with the demo run profile's annotation settings (self-consistency votes and label distributions). Every
method of every seed trains from the same initial weights (the seed's) on the same batch order
(``student/train.py``); ``gold_only`` has fewer examples, so its batches are drawn from the gold pairs alone,
and ``vanilla_compute_matched`` runs as many vanilla steps as CRSD's measured training time buys. ``gold_augmented``
trains on the gold pairs plus exactly the rule-labelled pairs the teacher's SFT saw beyond them (its profile's dataset
plugin's counterfactual pairs, drawn with its SFT seed), with their gold labels, at the same budget as ``gold_only``.
The teacher is measured on dev (what a choice may read) and on test (reported), with its per-pair labels, so that
``--differences teacher-METHOD`` compares it with a student on the same resampled test queries.

Resumable across sessions and machines: the teacher's figures, its annotations and each seed × method result
(test figures, predictions, dev curve) are small files under ``--cache`` (committed with the results, default
``benchmarks/results/method_comparison/``), so a later session, or a GPU machine, trains only what is missing
on the same annotations; models and checkpoints stay under WORKDIR (a killed student run continues from its
last checkpoint). Another student budget on the same teacher and annotations keeps its per-seed results in its own
``--results`` folder (and its models in its own ``--workdir``). ``--seeds ""`` trains and caches only the teacher's
figures and annotations. The JSON and the docs table are written from whatever is cached. Statistics: test
macro-F1 and QWK per seed; mean over seeds with a 95 % percentile bootstrap interval that resamples seeds and test
queries (a query's pairs move together: they are not independent); paired differences reference − method (CRSD
unless ``--reference`` names another) use the same resampled seeds and queries for both methods.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from _machine import provenance
from teacher_budget import ANSWER_TOKENS

README_BLOCK = "method-comparison"
REFERENCE_METHOD = "crsd"
# The sweep's student budget on top of the demo student profile: at 100 steps (the demo's) every dev curve still
# rises steeply; by 400 CRSD's has levelled off, the cheaper methods' have not (the README's curve table), which
# vanilla_compute_matched measures, and a 1,200-step budget (its own --results, benchmarks/results/
# method_comparison_1200) compares converged students. The committed cache was trained with exactly this, on a
# plain shuffle, and refuses anything else.
SWEEP_STUDENT_OVERRIDES = {"max_steps": 400, "eval_every_steps": 50, "group_by_length": False}
# The comparison keeps each cell's best checkpoint by dev macro-F1 under argmax and reports argmax test macro-F1 (the
# protocol in docs/evidence.md), whatever decoding the trainer selects by for a user's run.
COMPARISON_SELECTION_DECODING = "argmax"
# Every committed cell started the built-in data's added Chinese characters at the pretrained mean (it predates
# StudentTrainConfig.added_token_init), so the comparison keeps that start for all its cells, whatever the default.
COMPARISON_ADDED_TOKEN_INIT = "mean"
# Every committed cell stepped AdamW with torch's multi-tensor kernel (it predates StudentTrainConfig.fused_adamw).
COMPARISON_FUSED_ADAMW = False


def readme_markers(block: str = README_BLOCK) -> tuple[str, str]:
    """The README comments a generated table sits between; each budget's table has its own block name."""
    return (f"<!-- {block}:start (generated by benchmarks/method_comparison.py --readme) -->",
            f"<!-- {block}:end -->")


def _print(message: str) -> None:
    print(message, flush=True)


def prepare_teacher(args: argparse.Namespace, splits: dict[str, str], workdir: Path, cache: Path) -> dict[str, Any]:
    """The teacher model URI and its macro-F1 on the test split (trained, or evaluated, once and cached), with its
    dev figures and its per-pair labels on both splits."""
    from relevance_distill.schemas import get_label_scheme, test_set_fingerprint
    from relevance_distill.teacher.stages import read_pairs, teacher_evaluation

    cached = cache / "teacher.json"
    if cached.is_file():
        return json.loads(cached.read_text(encoding="utf-8"))
    scheme = get_label_scheme("local_services")
    train, test = read_pairs(splits["train"]), read_pairs(splits["test"])
    started = time.monotonic()
    if args.teacher_model_uri:
        evaluation = teacher_evaluation(args.teacher_model_uri, train, test, scheme, None, 0, ANSWER_TOKENS)
        teacher = {"profile": args.teacher_model_profile or None, "model_uri": args.teacher_model_uri,
                   "macro_f1": evaluation["macro_f1"],
                   "qwk": evaluation["qwk"], "parse_rate": evaluation["parse_rate"]}
    else:
        from relevance_distill.teacher.profiles import teacher_config
        from relevance_distill.teacher.run import run_teacher

        _print(f"teacher: training profile {args.teacher_profile} …")
        report = run_teacher(teacher_config(args.teacher_profile), splits["corpus"], train, test, scheme,
                             workdir / "teacher", 0, workdir / "teacher-work")
        teacher = {"profile": args.teacher_profile, "model_uri": report["teacher_model_uri"],
                   "macro_f1": report["after_dpo"]["macro_f1"], "qwk": report["after_dpo"]["qwk"],
                   "parse_rate": report["after_dpo"]["parse_rate"], "after_sft_macro_f1": report["after_sft"]["macro_f1"]}
    evaluations = {split: teacher_evaluation(teacher["model_uri"], train, read_pairs(splits[split]), scheme, None, 0,
                                             ANSWER_TOKENS) for split in ("dev", "test")}
    teacher.update({"test_pairs": len(test), "seconds": round(time.monotonic() - started, 1),
                    "dev": {key: evaluations["dev"][key] for key in ("pairs", "macro_f1", "qwk", "parse_rate")},
                    "dev_predicted": evaluations["dev"]["predicted"], "test_predicted": evaluations["test"]["predicted"],
                    "provenance": provenance(test_set_fingerprint([p for p in test if p.label]))})
    cache.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps(teacher, indent=2), encoding="utf-8")
    return teacher


def prepare_annotations(teacher: dict[str, Any], splits: dict[str, str], workdir: Path, cache: Path) -> dict[str, Any]:
    """The teacher's annotations of the log pairs, with the demo run profile's annotation settings (cached)."""
    from relevance_distill.annotate.shards import (
        annotate_shard,
        merge_shards,
        read_input_pairs,
    )
    from relevance_distill.config import RUN_PROFILES, EngineConfig
    from relevance_distill.llm.engines import make_engine
    from relevance_distill.schemas import get_label_scheme

    merged = workdir / "annotations" / "merged"
    if not (cache / "annotations.jsonl").is_file():
        settings = RUN_PROFILES["demo"].annotation
        pairs = read_input_pairs(splits["unlabeled"], settings.max_pairs)
        engine = make_engine(teacher["model_uri"], EngineConfig(**settings.model_dump(exclude={"shards", "max_pairs"})))
        try:
            annotate_shard(pairs, 0, 1, engine, get_label_scheme("local_services"), str(workdir / "annotations"),
                           teacher["model_uri"])
        finally:
            engine.close()
        merge_shards(str(workdir / "annotations"), 1, str(merged), expected_rows=len(pairs))
        for name in ("annotations.jsonl", "stats.json"):
            (cache / name).write_bytes((merged / name).read_bytes())
    stats = json.loads((cache / "stats.json").read_text(encoding="utf-8"))
    return {"annotations": str(cache / "annotations.jsonl"), "pairs": splits["unlabeled"],
            "annotated": stats["annotated"], "rows_in": stats["rows_in"], "labels": stats["labels"]}


def sft_extra_pairs(args: argparse.Namespace, train: list[Any]) -> list[Any]:
    """The rule-labelled pairs the teacher's SFT trained on beyond the gold pairs: its profile's dataset plugin's
    counterfactual pairs with its SFT seed (none for a profile without them)."""
    from relevance_distill.plugins import load_plugin
    from relevance_distill.teacher.profiles import teacher_config

    sft = teacher_config(args.teacher_profile).sft
    return load_plugin(sft.dataset_plugin).counterfactual_pairs(train, sft.seed, sft.counterfactuals)


def budget_settings(config: Any) -> dict[str, Any]:
    """The student settings every cached result of one comparison must share (all but method and seed)."""
    return effective_settings(config.model_dump(exclude={"method", "seed", "device", "resume", "num_threads"}))


def effective_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """SETTINGS without what does not change training (the epoch budget when a step budget replaces it), and with
    ``group_by_length`` false where a result predates that field (it was trained on a plain shuffle), and
    ``selection_decoding`` argmax where it predates that one (its best checkpoint was chosen under argmax), and
    ``added_token_init`` mean where it predates that one (added characters started at the pretrained mean), and
    ``fused_adamw`` false where it predates that one (the multi-tensor AdamW kernel)."""
    settings = {"group_by_length": False, "selection_decoding": "argmax", "added_token_init": "mean",
                "fused_adamw": False, **settings}
    return {key: value for key, value in settings.items() if not (key == "epochs" and settings.get("max_steps"))}


def result_path(results_dir: Path, seed: int, method: str) -> Path:
    return results_dir / f"seed-{seed}" / f"{method}.json"


def read_cached_result(cached: Path, settings: dict[str, Any]) -> dict[str, Any] | None:
    """A cached seed × method result (None when there is none), refused when another budget made it. SETTINGS:
    ``budget_settings`` of this comparison."""
    if not cached.is_file():
        return None
    result = json.loads(cached.read_text(encoding="utf-8"))
    if effective_settings(result["settings"]) != settings:
        raise SystemExit(f"{cached} was trained with other settings ({result['settings']}), not {settings}: use "
                         "another --results (and --workdir) for another budget")
    return result


def cell_precision(result: dict[str, Any]) -> str:
    """What a cached cell trained in (``student.train.training_precision``): recorded in its training summary, or for a
    cell that predates that field, read from its settings' AMP and the CPU flags of its provenance ("unknown" without
    them)."""
    from relevance_distill.devices import flags_have_native_bf16

    training = result.get("training") or {}
    if "precision" in training:
        return training["precision"]
    if not result.get("settings", {}).get("amp"):
        return "fp32"
    if training.get("device") == "cuda":
        return "bf16_autocast"
    flags = (result.get("provenance") or {}).get("cpu_flags")
    if flags is None:
        return "unknown"
    return "bf16_autocast" if flags_have_native_bf16(flags) else "fp32"


def require_one_precision(cached: list[dict[str, Any]], config: Any, results_dir: Path) -> str:
    """The precision this machine trains CONFIG in, refused (with the fix) when the comparison's cached cells trained
    in another: bf16 autocast and fp32 round differently, so their cells are not one comparison."""
    from relevance_distill.devices import choose_device
    from relevance_distill.student.train import training_precision

    here = training_precision(config.amp, choose_device(config.device, "student training"))
    theirs = {cell_precision(result): (result.get("provenance") or {}).get("machine", "not recorded")
              for result in cached}
    others = {precision: machine for precision, machine in theirs.items() if precision != here}
    if others:
        raise SystemExit(f"the cells cached in {results_dir} trained in {sorted(others)} (on {sorted(others.values())}); "
                         f"this machine trains in {here}: run the missing cells on a machine like theirs, or give "
                         "this machine its own --cache (and --results, --workdir) and train every cell there")
    return here


def train_one(method: str, seed: int, config: Any, data: dict[str, Any], workdir: Path, results_dir: Path,
              done: dict[tuple[int, str], dict[str, Any]]) -> dict[str, Any]:
    """One seed × method: train (resuming a killed run), evaluate on the test split, cache the result."""
    from relevance_distill.evaluation.evaluate import BEST_DIR, evaluate_student
    from relevance_distill.student.compare import with_matched_budget
    from relevance_distill.student.train import train_student

    out = workdir / "students" / f"seed-{seed}" / method
    cached = result_path(results_dir, seed, method)
    settings = budget_settings(config)
    result = read_cached_result(cached, settings)
    if result is not None:
        return result
    trained = {other: result["training"] for (other_seed, other), result in done.items() if other_seed == seed}
    method_config = with_matched_budget(config.model_copy(update={"method": method, "seed": seed}), trained)
    training = train_student(method_config, data["scheme"], data["train"], data["dev"], out, data["annotations"],
                             data.get("extra_gold"))
    metrics = evaluate_student(out / BEST_DIR, data["test"], data["scheme"], latency_requests=0)
    history = json.loads((out / "history.json").read_text(encoding="utf-8"))
    result = {"seed": seed, "method": method, "settings": settings, "provenance": provenance(metrics["test_set_sha256"]),
              "training": {key: value for key, value in training.items() if key != "config"},
              "test": {"macro_f1": metrics["test"]["macro_f1"], "qwk": metrics["test"]["qwk"]},
              "test_set_sha256": metrics["test_set_sha256"],
              "predicted": [data["scheme"].index(row["predicted"]) for row in metrics["predictions"]],
              "curve": [[e["step"], e["dev_macro_f1"]] for e in history["evals"]]}
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps(result), encoding="utf-8")
    return result


def bootstrap(gold: np.ndarray, groups: np.ndarray, predictions: dict[str, dict[int, np.ndarray]], num_labels: int,
              resamples: int, rng_seed: int = 0, reference: str = REFERENCE_METHOD,
              differences: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    """Means over seeds with 95 % intervals (resampling seeds and test queries), and paired differences
    reference − each method on the same resampled seeds and queries (seeds shared by both methods). With DIFFERENCES
    (pairs A, B) those are A − B instead, each side's seeds resampled apart where they share none (the teacher)."""
    from relevance_distill.evaluation.metrics import macro_f1, quadratic_weighted_kappa

    metrics = {"macro_f1": macro_f1, "qwk": quadratic_weighted_kappa}
    rng = np.random.default_rng(rng_seed)
    query_ids = np.unique(groups)
    members = [np.flatnonzero(groups == query) for query in query_ids]
    most_seeds = max(len(by_seed) for by_seed in predictions.values())
    # One draw: the resampled test pairs (whole queries) and uniforms that pick seeds, shared by every method so
    # that paired differences compare the same resample.
    draws = []
    for _ in range(resamples):
        chosen = rng.integers(0, len(members), len(members))
        draws.append((np.concatenate([members[i] for i in chosen]), rng.random(most_seeds)))

    def seed_picks(uniforms: np.ndarray, count: int) -> np.ndarray:
        return (uniforms[:count] * count).astype(int)

    def mean_over(method: str, seeds: list[int], seed_picks: np.ndarray, index: np.ndarray, name: str) -> float:
        return float(np.mean([metrics[name](gold[index], predictions[method][seeds[k]][index], num_labels)
                              for k in seed_picks]))

    summary: dict[str, Any] = {"methods": {}, "paired": {}}
    for method, by_seed in predictions.items():
        seeds = sorted(by_seed)
        entry: dict[str, Any] = {}
        for name in metrics:
            point = float(np.mean([metrics[name](gold, by_seed[s], num_labels) for s in seeds]))
            samples = []
            for index, uniforms in draws:
                samples.append(mean_over(method, seeds, seed_picks(uniforms, len(seeds)), index, name))
            entry[f"{name}_mean"] = point
            entry[f"{name}_ci"] = [float(np.percentile(samples, 2.5)), float(np.percentile(samples, 97.5))]
        summary["methods"][method] = entry
    for first, second in differences or []:
        if first not in predictions or second not in predictions:
            continue
        # The teacher is one model, not a seed of any student: its side is never paired seed by seed.
        shared = [] if "teacher" in (first, second) else sorted(set(predictions[first]) & set(predictions[second]))
        sides = {first: shared or sorted(predictions[first]), second: shared or sorted(predictions[second])}
        point = (float(np.mean([macro_f1(gold, predictions[first][s], num_labels) for s in sides[first]]))
                 - float(np.mean([macro_f1(gold, predictions[second][s], num_labels) for s in sides[second]])))
        samples = []
        for index, uniforms in draws:
            samples.append(mean_over(first, sides[first], seed_picks(uniforms, len(sides[first])), index, "macro_f1")
                           - mean_over(second, sides[second], seed_picks(uniforms[::-1], len(sides[second])), index,
                                       "macro_f1"))
        summary["paired"][f"{first}_minus_{second}"] = {
            "mean": point, "ci": [float(np.percentile(samples, 2.5)), float(np.percentile(samples, 97.5))],
            "seeds": shared or {first: sides[first], second: sides[second]}}
    if reference in predictions and not differences:
        for method in predictions:
            if method == reference:
                continue
            seeds = sorted(set(predictions[reference]) & set(predictions[method]))
            if not seeds:
                continue
            point = float(np.mean([macro_f1(gold, predictions[reference][s], num_labels)
                                   - macro_f1(gold, predictions[method][s], num_labels) for s in seeds]))
            samples = []
            for index, uniforms in draws:
                picks = seed_picks(uniforms, len(seeds))
                samples.append(mean_over(reference, seeds, picks, index, "macro_f1")
                               - mean_over(method, seeds, picks, index, "macro_f1"))
            summary["paired"][f"{reference}_minus_{method}"] = {
                "mean": point, "ci": [float(np.percentile(samples, 2.5)), float(np.percentile(samples, 97.5))],
                "seeds": seeds}
    return summary


def assemble(results: list[dict[str, Any]], methods: list[str], gold: np.ndarray, groups: np.ndarray, num_labels: int,
             resamples: int, budget: dict[str, Any], teacher: dict[str, Any],
             reference: str = REFERENCE_METHOD, differences: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    """The JSON of the comparison from the cached per-seed results (the teacher's test labels, where cached, are the
    'teacher' of DIFFERENCES: one model, one seed)."""
    predictions: dict[str, dict[int, np.ndarray]] = {}
    for result in results:
        predictions.setdefault(result["method"], {})[result["seed"]] = np.array(result["predicted"])
    if "test_predicted" in teacher:
        predictions["teacher"] = {0: np.array(teacher["test_predicted"])}
    stats = bootstrap(gold, groups, predictions, num_labels, resamples, reference=reference, differences=differences)
    teacher = {key: value for key, value in teacher.items() if not key.endswith("_predicted")}
    output: dict[str, Any] = {"budget": budget, "teacher": teacher,
                              "reference": None if differences else reference, "methods": {},
                              "paired": stats["paired"], "curves": {}}
    for method in methods:
        runs = sorted((r for r in results if r["method"] == method), key=lambda r: r["seed"])
        if not runs:
            continue
        output["methods"][method] = {
            "seeds": [{"seed": r["seed"], "macro_f1": r["test"]["macro_f1"], "qwk": r["test"]["qwk"],
                       "steps": r["training"]["steps"], "best_step": r["training"]["best_step"],
                       "best_dev_macro_f1": r["training"]["best_dev_macro_f1"],
                       "train_seconds": r["training"]["train_seconds"]} for r in runs],
            # What a choice between methods may read: the checkpoint each seed kept, scored on dev.
            "best_dev_macro_f1_mean": float(np.mean([r["training"]["best_dev_macro_f1"] for r in runs])),
            **stats["methods"][method]}
        output["curves"][method] = {str(r["seed"]): r["curve"] for r in runs}
    return output


def _interval(values: list[float], scale: float = 100.0) -> str:
    return f"[{values[0] * scale:.1f}, {values[1] * scale:.1f}]"


def readme_table(result: dict[str, Any], block: str = README_BLOCK) -> str:
    """The docs' table, generated from the JSON (a test checks the docs hold exactly this). With a reference method
    each row has reference − method; a comparison of named differences lists them in a table of their own."""
    teacher = result["teacher"]
    budget = result["budget"]
    reference = result["reference"]
    start, end = readme_markers(block)
    dev = teacher.get("dev")
    teacher_figures = (f"dev macro-F1 {dev['macro_f1'] * 100:.1f}, " if dev else "") + f"test macro-F1 {teacher['macro_f1'] * 100:.1f}"
    paired_column = f" {reference} − method, macro-F1 [95 % CI] |" if reference else ""
    # Comparisons reported before the dev figure was recorded keep their table as it was.
    with_dev = all("best_dev_macro_f1_mean" in entry for entry in result["methods"].values())
    dev_column = " best dev macro-F1, mean |" if with_dev else ""
    header = (f"| method | seeds |{dev_column} test macro-F1 [95 % CI] | test QWK [95 % CI] |{paired_column} steps "
              "| training s per seed |")
    lines = [start,
             f"Teacher {teacher.get('profile') or teacher['model_uri']}: {teacher_figures}. "
             f"Students: {budget['student_init']}, {budget['max_steps']} steps of {budget['batch_size']} pairs, lr "
             f"{budget['learning_rate']}, max_length {budget['max_length']}/{budget['reasoning_max_length']}; "
             f"{budget['test_pairs']} test pairs ({budget['test_queries']} queries); 95 % bootstrap intervals over seeds "
             f"and test queries; figures in points (×100).", "",
             # One separator cell per header column, whichever optional columns the header has.
             header, "|" + "---|" * (header.count("|") - 1)]
    for method, entry in result["methods"].items():
        paired = result["paired"].get(f"{reference}_minus_{method}")
        difference = (f" {paired['mean'] * 100:+.1f} {_interval(paired['ci'])} |" if paired else " — |") if reference else ""
        steps = sorted({run["steps"] for run in entry["seeds"]})
        seconds = np.mean([run["train_seconds"] for run in entry["seeds"]])
        dev = f" {entry['best_dev_macro_f1_mean'] * 100:.1f} |" if with_dev else ""
        lines.append(f"| {method} | {len(entry['seeds'])} |{dev} {entry['macro_f1_mean'] * 100:.1f} {_interval(entry['macro_f1_ci'])} "
                     f"| {entry['qwk_mean'] * 100:.1f} {_interval(entry['qwk_ci'])} |{difference} "
                     f"{'/'.join(map(str, steps))} | {seconds:.0f} |")
    if not reference:
        lines.extend(["", "| paired difference (test macro-F1) | mean [95 % CI] |", "|---|---|"])
        for name, paired in result["paired"].items():
            lines.append(f"| {name.replace('_minus_', ' − ')} | {paired['mean'] * 100:+.1f} {_interval(paired['ci'])} |")
    lines.extend(["", *curve_table(result["curves"], result["budget"]["eval_every_steps"]), end])
    return "\n".join(lines)


def curve_table(curves: dict[str, dict[str, list[list[float]]]], eval_every_steps: int) -> list[str]:
    """Dev macro-F1 at each evaluation step, mean over a method's seeds: has the budget levelled off?

    Only steps on the evaluation grid get a column: a compute-matched run ends at a step of its own per seed, and
    one column per such end would be a column holding one seed."""
    if not curves:
        return []
    steps = sorted({int(step) for by_seed in curves.values() for curve in by_seed.values() for step, _ in curve
                    if int(step) % eval_every_steps == 0})
    lines = ["Dev macro-F1 (points, mean over the seeds that reached the step) by training step:", "",
             "| method | " + " | ".join(map(str, steps)) + " |", "|---|" + "---|" * len(steps)]
    for method, by_seed in curves.items():
        cells = []
        for step in steps:
            values = [f1 for curve in by_seed.values() for at, f1 in curve if int(at) == step]
            cells.append(f"{np.mean(values) * 100:.1f}" if values else "—")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return lines


def write_readme(readme: Path, table: str, block: str = README_BLOCK) -> None:
    start, end = readme_markers(block)
    text = readme.read_text(encoding="utf-8")
    if start not in text or end not in text:
        raise SystemExit(f"{readme} has no {block} markers ({start!r} … {end!r}): add both where the table goes")
    before, rest = text.split(start, 1)
    after = rest.split(end, 1)[1]
    readme.write_text(before + table + after, encoding="utf-8")


def main() -> None:
    from relevance_distill.builtin_world.prepare import prepare_builtin
    from relevance_distill.config import (
        STUDENT_METHODS,
        parse_methods,
        student_config_for,
    )
    from relevance_distill.schemas import get_label_scheme
    from relevance_distill.student.compare import (
        load_annotations,
        training_order,
        training_pairs,
    )
    from relevance_distill.teacher.stages import read_pairs

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", default="runs/method-comparison", help="Models and checkpoints (large, not kept).")
    parser.add_argument("--cache", default="benchmarks/results/method_comparison",
                        help="Teacher figures, annotations and per-seed results (small, committed: the sweep resumes from them).")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--methods", default=",".join(STUDENT_METHODS))
    parser.add_argument("--teacher-profile", default="demo", help="Teacher profile trained here (ignored with --teacher-model-uri).")
    parser.add_argument("--teacher-model-uri", default="", help="An existing teacher model (directory or s3://).")
    parser.add_argument("--teacher-model-profile", default="",
                        help="What trained --teacher-model-uri (recorded with the teacher's figures, e.g. 'strong, SFT only, seed 13').")
    parser.add_argument("--student-profile", default="demo")
    parser.add_argument("--student-overrides", default=json.dumps(SWEEP_STUDENT_OVERRIDES),
                        help="JSON of StudentTrainConfig fields on top of --student-profile (default: the sweep's budget).")
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--results", default="",
                        help="Where the seed × method results go (default: --cache). Another budget on the same "
                             "teacher and annotations: its own --results (and --workdir), the shared --cache.")
    parser.add_argument("--only-report", action="store_true", help="Train nothing: write JSON/README from the cache.")
    parser.add_argument("--reference", default=REFERENCE_METHOD, choices=STUDENT_METHODS,
                        help="The method every paired difference is taken against (reference − method).")
    parser.add_argument("--differences", default="",
                        help="Comma-separated A-B pairs of methods (or 'teacher') whose paired difference A − B is "
                             "reported instead of the --reference ones.")
    parser.add_argument("--json", default="")
    parser.add_argument("--readme", default="")
    parser.add_argument("--readme-block", default=README_BLOCK,
                        help="The README's marker pair the table goes between (one per budget).")
    args = parser.parse_args()

    differences = []
    for pair in filter(None, (part.strip() for part in args.differences.split(","))):
        first, _, second = pair.partition("-")
        unknown = [name for name in (first, second) if name not in (*STUDENT_METHODS, "teacher")]
        if not second or unknown:
            parser.error(f"--differences {pair!r}: expected A-B with A and B among {[*STUDENT_METHODS, 'teacher']}")
        differences.append((first, second))
    workdir, cache = Path(args.workdir), Path(args.cache)
    results_dir = Path(args.results) if args.results else cache
    seeds = [int(seed) for seed in args.seeds.split(",") if seed.strip()]
    methods = training_order(parse_methods(args.methods))
    config = student_config_for(args.student_profile, **{"selection_decoding": COMPARISON_SELECTION_DECODING,
                                                           "added_token_init": COMPARISON_ADDED_TOKEN_INIT,
                                                           "fused_adamw": COMPARISON_FUSED_ADAMW,
                                                           **json.loads(args.student_overrides)})
    splits = prepare_builtin(workdir / "data")
    scheme = get_label_scheme("local_services")
    test = read_pairs(splits["test"])
    if args.only_report and not (cache / "teacher.json").is_file():
        raise SystemExit(f"--only-report: {cache} holds no results yet (no teacher.json); run without it first")
    teacher = prepare_teacher(args, splits, workdir, cache) if not args.only_report else json.loads(
        (cache / "teacher.json").read_text(encoding="utf-8"))
    _print(f"teacher: macro-F1 {teacher['macro_f1']:.4f} on {teacher['test_pairs']} test pairs")
    annotated = prepare_annotations(teacher, splits, workdir, cache) if not args.only_report else None
    data: dict[str, Any] = {"scheme": scheme, "dev": read_pairs(splits["dev"]), "test": test}
    if annotated:
        annotations = load_annotations(annotated["annotations"])
        data["train"], counts = training_pairs(read_pairs(splits["train"]), read_pairs(splits["unlabeled"]), annotations)
        data["annotations"] = annotations
        _print(f"training pairs: {counts}")
    if "gold_augmented" in methods and not args.only_report:
        data["extra_gold"] = sft_extra_pairs(args, read_pairs(splits["train"]))
        _print(f"gold_augmented: {len(data['extra_gold'])} rule-labelled pairs the teacher's SFT saw beyond the gold pairs")

    results: dict[tuple[int, str], dict[str, Any]] = {}
    missing = [(seed, method) for seed in seeds for method in methods
               if not result_path(results_dir, seed, method).is_file()]
    if missing and not args.only_report:
        cached = [json.loads(path.read_text(encoding="utf-8")) for path in sorted(results_dir.glob("seed-*/*.json"))]
        precision = require_one_precision(cached, config, results_dir)
        _print(f"{len(missing)} cells to train here, in {precision}")
    for seed in seeds:
        for method in methods:
            if args.only_report:
                # The report's budget is this run's settings, so a result another budget made is refused here too.
                cached = read_cached_result(result_path(results_dir, seed, method), budget_settings(config))
                if cached is not None:
                    results[(seed, method)] = cached
                continue
            started = time.monotonic()
            results[(seed, method)] = train_one(method, seed, config, data, workdir, results_dir, results)
            r = results[(seed, method)]
            # Dev only: a comparison's choices are made on dev, so test figures appear in the report alone.
            _print(f"seed {seed} {method}: best dev macro-F1 {r['training']['best_dev_macro_f1']:.4f} at step "
                   f"{r['training']['best_step']} ({r['training']['steps']} steps, {time.monotonic() - started:.0f} s)")

    if not results:
        # `--seeds ""`: the teacher's figures and its annotations are cached; no student has been trained yet.
        _print(f"no seed × method results in {results_dir} yet: nothing to report")
        return
    gold = np.array([scheme.index(pair.label) for pair in test])
    groups = np.array([pair.group_key for pair in test])
    budget = {"student_profile": args.student_profile, "student_init": config.init, "max_steps": config.max_steps,
              "batch_size": config.batch_size, "learning_rate": config.learning_rate, "max_length": config.max_length,
              "reasoning_max_length": config.reasoning_max_length, "eval_every_steps": config.eval_every_steps,
              "overrides": json.loads(args.student_overrides), "seeds": seeds, "test_pairs": len(test),
              "test_queries": len(set(groups)), "resamples": args.resamples}
    if annotated:
        budget["annotated_pairs"] = annotated["annotated"]
    output = assemble(list(results.values()), methods, gold, groups, scheme.num_labels, args.resamples, budget, teacher,
                      reference=args.reference, differences=differences)
    from relevance_distill.schemas import test_set_fingerprint

    output["provenance"] = provenance(test_set_fingerprint([p for p in test if p.label]))
    output["cells_provenance"] = sorted({(r.get("provenance") or {}).get("machine", "not recorded") for r in results.values()})
    output["cells_precision"] = sorted({cell_precision(r) for r in results.values()})
    for method, entry in output["methods"].items():
        _print(f"{method}: macro-F1 {entry['macro_f1_mean']:.4f} {entry['macro_f1_ci']} over {len(entry['seeds'])} seeds")
    for name, entry in output["paired"].items():
        _print(f"{name}: {entry['mean'] * 100:+.2f} points [{entry['ci'][0] * 100:+.2f}, {entry['ci'][1] * 100:+.2f}]")
    if not differences and args.reference not in output["methods"]:
        _print(f"no paired differences: --reference {args.reference} has no results among {list(output['methods'])}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(output, indent=1), encoding="utf-8")
    if args.readme:
        write_readme(Path(args.readme), readme_table(output, args.readme_block), args.readme_block)


if __name__ == "__main__":
    main()
