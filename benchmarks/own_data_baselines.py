"""What a user would otherwise pick on the README's own-data sets, on the very splits the main job makes.

    python benchmarks/own_data_baselines.py --json benchmarks/results/own_data_baselines.json [--only crowdflower,qbqtc]

Each labelled file is prepared by the product's own ``prepare_dataset`` with the run's defaults (query split, seed
13, the format's label scheme), so train/dev/test are the main job's; the test fingerprint is checked against
``benchmarks/results/own_data.json`` when that file holds the dataset. Three models that need no teacher and no
fine-tuned transformer, each giving class probabilities decoded exactly as the student is (argmax, and the ordinal
decoder with cut-points tuned on dev):

- ``lexical_gbm``: the 2015 Kaggle recipe in small: word and character n-gram TF-IDF cosines between the query and
  the title / the whole service text, query-term coverage, lengths, an empty-description flag, fed to
  scikit-learn's ``HistGradientBoostingClassifier``;
- ``minilm_cosine``: the packaged all-MiniLM-L6-v2 (the student's starting weights) used as it was trained, a
  bi-encoder: the cosine of mean-pooled query and service-text embeddings, mapped to labels by a multinomial
  logistic regression fitted on train;
- ``lexical_gbm+cosine``: both feature sets in one boosted model.

Test is read once per model; intervals are 95 % percentiles of 1,000 resamples of whole test queries (the unit the
split assigns), so they show how much a test set of a few dozen queries can move. The student's figures beside them
come from ``own_data.json`` (the README's command). Deterministic: no model here draws random numbers.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path

import numpy as np
from _machine import provenance, write_result
from own_data import (
    add_dataset_arguments,
    load_splits,
    published_figures,
    require_shared_file,
    selected_datasets,
    with_interval,
)

ROOT = Path(__file__).resolve().parents[1]

BASELINES = ("lexical_gbm", "minilm_cosine", "lexical_gbm+cosine")
# Latin words and single CJK characters: QBQTC is Chinese, without spaces between words.
TOKEN = re.compile(r"[a-z0-9]+|[\u3400-\u9fff]")
EMBEDDING_MAX_LENGTH = 128


def lexical_features(splits: dict[str, list]) -> dict[str, np.ndarray]:
    """Per pair: TF-IDF cosines (word, character n-grams) of the query against the title and the whole text,
    the share of query tokens found in each, token counts and whether the description is empty."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    def texts(pairs: list) -> tuple[list[str], list[str], list[str]]:
        return ([p.query.lower() for p in pairs], [p.service.title.lower() for p in pairs],
                [p.service.to_text().lower() for p in pairs])

    train_queries, _, train_texts = texts(splits["train"])
    corpus = train_queries + train_texts
    vectorizers = [TfidfVectorizer(analyzer=lambda s: TOKEN.findall(s), sublinear_tf=True).fit(corpus),
                   TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True, min_df=2).fit(corpus)]

    def cosine(vectorizer, first: list[str], second: list[str]) -> np.ndarray:
        return np.asarray(vectorizer.transform(first).multiply(vectorizer.transform(second)).sum(axis=1)).ravel()

    features = {}
    for name, pairs in splits.items():
        queries, titles, full = texts(pairs)
        columns = [cosine(v, queries, other) for v in vectorizers for other in (titles, full)]
        for other in (titles, full):
            columns.append(np.array([len(set(TOKEN.findall(q)) & set(TOKEN.findall(o))) / max(1, len(set(TOKEN.findall(q))))
                                     for q, o in zip(queries, other)]))
        columns += [np.array([len(TOKEN.findall(q)) for q in queries]), np.array([len(TOKEN.findall(t)) for t in titles]),
                    np.array([not p.service.description for p in pairs])]
        features[name] = np.column_stack(columns).astype(float)
    return features


def cosine_features(splits: dict[str, list], threads: int) -> dict[str, np.ndarray]:
    """Cosine of the packaged MiniLM's mean-pooled query and service-text embeddings, one column per pair."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from relevance_distill.hf import minilm_dir
    from relevance_distill.progress import Progress

    torch.set_num_threads(threads)
    tokenizer = AutoTokenizer.from_pretrained(minilm_dir())
    model = AutoModel.from_pretrained(minilm_dir()).eval()

    def embed(texts: list[str], progress: Progress) -> torch.Tensor:
        out = []
        for start in range(0, len(texts), 64):
            batch = tokenizer(texts[start:start + 64], padding=True, truncation=True, max_length=EMBEDDING_MAX_LENGTH,
                              return_tensors="pt")
            with torch.inference_mode():
                hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            out.append(torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1))
            progress.update(advance=len(out[-1]))
        return torch.cat(out)

    features = {}
    total = 2 * sum(len(pairs) for pairs in splits.values())
    with Progress("minilm embeddings", total, unit="text") as progress:
        for name, pairs in splits.items():
            queries = embed([p.query for p in pairs], progress)
            services = embed([p.service.to_text() for p in pairs], progress)
            features[name] = (queries * services).sum(dim=1, keepdim=True).numpy().astype(float)
    return features


def fit_probabilities(baseline: str, features: dict[str, np.ndarray], gold: dict[str, np.ndarray],
                      num_labels: int) -> dict[str, np.ndarray]:
    """Class probabilities (one column per label of the scheme, zero for a label train lacks) on dev and test of
    BASELINE fitted on train."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    if baseline == "minilm_cosine":
        model = LogisticRegression(max_iter=1000)
    else:
        model = HistGradientBoostingClassifier(max_iter=300, learning_rate=0.05, early_stopping=False)
    model.fit(features["train"], gold["train"])
    probabilities = {}
    for name in ("dev", "test"):
        present = model.predict_proba(features[name])
        full = np.zeros((len(present), num_labels))
        full[:, model.classes_] = present
        probabilities[name] = full
    return probabilities


def query_bootstrap(gold: np.ndarray, predicted: np.ndarray, groups: np.ndarray, num_labels: int) -> dict[str, list[float]]:
    """95 % percentile intervals of macro-F1 and QWK over resamples of whole queries: the evaluation's own
    (``query_bootstrap_intervals``, what the main job reports for its students), in this file's keys."""
    from relevance_distill.evaluation.metrics import query_bootstrap_intervals

    intervals = query_bootstrap_intervals(gold, predicted, groups, num_labels)
    return {"macro_f1_ci": intervals["macro_f1"], "qwk_ci": intervals["qwk"]}


def score(probabilities: dict[str, np.ndarray], gold: dict[str, np.ndarray], groups: np.ndarray,
          num_labels: int) -> dict:
    """Dev and test figures under both decodings; the ordinal cut-points are tuned on dev only."""
    from relevance_distill.evaluation.metrics import (
        macro_f1,
        ordinal_predictions,
        quadratic_weighted_kappa,
        tune_cutpoints,
    )

    cutpoints = tune_cutpoints(probabilities["dev"], gold["dev"], num_labels)
    result: dict = {"cutpoints": cutpoints}
    for decoding in ("argmax", "ordinal"):
        figures = {}
        for name in ("dev", "test"):
            predicted = (probabilities[name].argmax(axis=1) if decoding == "argmax"
                         else ordinal_predictions(probabilities[name], cutpoints))
            figures[name] = {"macro_f1": macro_f1(gold[name], predicted, num_labels),
                             "qwk": quadratic_weighted_kappa(gold[name], predicted, num_labels)}
            if name == "test":
                figures[name].update(query_bootstrap(gold[name], predicted, groups, num_labels))
        result[decoding] = figures
    return result


def measure(dataset: str, threads: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="rd-own-data-baselines-") as directory:
        splits, scheme, summary = load_splits(dataset, Path(directory))
    gold = {name: np.array([scheme.index(p.label) for p in pairs]) for name, pairs in splits.items()}
    groups = np.array([p.group_key for p in splits["test"]])
    lexical = lexical_features(splits)
    cosine = cosine_features(splits, threads)
    inputs = {"lexical_gbm": lexical, "minilm_cosine": cosine,
              "lexical_gbm+cosine": {name: np.hstack([lexical[name], cosine[name]]) for name in lexical}}
    fingerprint = summary["test"]["fingerprint"]
    entry = {"splits": {name: {"pairs": len(pairs), "queries": len({p.group_key for p in pairs})}
                        for name, pairs in splits.items()},
             "test": {"pairs": len(splits["test"]), "fingerprint": fingerprint},
             "baselines": {baseline: score(fit_probabilities(baseline, inputs[baseline], gold, scheme.num_labels), gold, groups,
                                           scheme.num_labels) for baseline in BASELINES},
             "provenance": provenance(test_set_sha256=fingerprint, threads=threads)}
    for baseline, result in entry["baselines"].items():
        print(f"{dataset} {baseline}: test ordinal QWK {result['ordinal']['test']['qwk']:.3f} "
              f"(dev {result['ordinal']['dev']['qwk']:.3f}), macro-F1 {result['ordinal']['test']['macro_f1']:.3f}",
              flush=True)
    return entry


def markdown_table(document: dict, students: dict) -> str:
    """One row per dataset and model: test figures (ordinal decoding, 95 % query-bootstrap interval) and dev QWK;
    the published student's row from the own-data result file."""
    def interval(figures: dict, metric: str) -> str:
        return with_interval(figures[metric], figures[f"{metric}_ci"])

    header = ("| data | model (ordinal decoding, cut-points tuned on dev) | dev QWK | test QWK (95 % CI) | "
              "test macro-F1 (95 % CI) |")
    lines = [header, "|---|---|---|---|---|"]
    for dataset, entry in document["datasets"].items():
        queries = entry["splits"]["test"]["queries"]
        for baseline, result in entry["baselines"].items():
            test = result["ordinal"]["test"]
            lines.append(f"| {dataset} ({entry['test']['pairs']:,} test pairs, {queries} queries) | {baseline} | "
                         f"{result['ordinal']['dev']['qwk']:.3f} | {interval(test, 'qwk')} | {interval(test, 'macro_f1')} |")
        served = published_figures(students[dataset]) if dataset in students else None
        if served:
            published, _, figures = served
            ci = figures.get("ci") or {}  # recorded by runs whose evaluation reported intervals
            lines.append(f"| {dataset} | the README's command: {published} student (fine-tuned MiniLM) | – | "
                         f"{with_interval(figures['qwk'], ci.get('qwk'))} | {with_interval(figures['macro_f1'], ci.get('macro_f1'))} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_dataset_arguments(parser)
    parser.add_argument("--threads", type=int, default=1, help="torch threads for the embeddings.")
    args = parser.parse_args()
    datasets, document = selected_datasets(parser, args)
    students_file = ROOT / "benchmarks" / "results" / "own_data.json"
    students = json.loads(students_file.read_text(encoding="utf-8"))["datasets"] if students_file.is_file() else {}
    for dataset in datasets:
        require_shared_file(dataset)
        entry = measure(dataset, args.threads)
        if dataset in students and students[dataset]["test"]["fingerprint"] != entry["test"]["fingerprint"]:
            sys.exit(f"{dataset}: the test split here ({entry['test']['fingerprint'][:12]}…) is not the one in "
                     f"{students_file} ({students[dataset]['test']['fingerprint'][:12]}…); rerun own_data.py first")
        document["datasets"][dataset] = entry
        write_result(args.json, document)
    print(markdown_table(document, students))


if __name__ == "__main__":
    main()
