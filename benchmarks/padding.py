"""How much of a training batch is padding, with a plain shuffle and with the trainer's length-grouped batches.

    python benchmarks/padding.py [--json OUT]

For the built-in data (at the ``demo`` student profile's token budgets, the profile ``make demo`` trains) and for
each own-data file of the README that ``../shared/data`` holds (at the ``full`` profile's budgets, the profile
your data gets): the standard views of every pair, tokenized by the packaged MiniLM tokenizer as the trainer
builds them (``encoding.ViewEncoder``), cut into one epoch of batches by ``student.train.batch_order`` with and
without lengths. Printed and written: the share of padded tokens and the tokens per batch, and their ratio, which
bounds what grouping can save in a step whose cost follows its tokens. Where the pairs carry reasoning chains (the
built-in data), also the mean length of ``crsd_no_verdict``'s reasoning view and of ``crsd_chain_view``'s (the query and
the chain without the service text). No training runs, so the figures do not
depend on the CPU; ``train_throughput.py`` measures the time.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

# The README's own-data files and formats, and where the shared datasets lie: written once, in own_data.py.
from own_data import COMMANDS as OWN_DATA  # noqa: E402
from own_data import SHARED_DATA  # noqa: E402


def padding(lengths: list[int], batch_size: int, seed: int, grouped: bool,
            padded_lengths: list[int] | None = None) -> dict[str, float]:
    """Padded share and tokens per batch of one epoch's batches (grouped by LENGTHS when GROUPED); PADDED_LENGTHS:
    the lengths of another view of the same examples whose padding is measured in those batches (default LENGTHS)."""
    from relevance_distill.student.train import batch_order

    steps = len(lengths) // batch_size
    batches = batch_order(len(lengths), batch_size, steps, seed, lengths if grouped else None)
    lengths = padded_lengths or lengths
    real = sum(lengths[i] for batch in batches for i in batch)
    padded = sum(len(batch) * max(lengths[i] for i in batch) for batch in batches)
    return {"padded_share": 1 - real / padded, "tokens_per_batch": padded / len(batches)}


def measure(pairs: list, profile: str, scheme) -> dict:
    from relevance_distill.config import student_config_for
    from relevance_distill.encoding import ViewEncoder
    from relevance_distill.student.model import load_classifier
    from relevance_distill.student.train import without_verdict

    config = student_config_for(profile)
    texts = [text for pair in pairs for text in (pair.query, pair.service.to_text())]
    _, tokenizer = load_classifier(config.init, scheme, texts, config.seed, config.extend_vocabulary)
    with_chains = [i for i, pair in enumerate(pairs) if pair.reasoning]
    chains = [without_verdict(pair.reasoning or "")[0] for pair in pairs] if with_chains else None
    encoder = ViewEncoder(tokenizer, config.max_length, config.reasoning_max_length)
    standard, reasoning = encoder.encode_pairs(pairs, chains)
    _, chain_views = encoder.encode_pairs(pairs, chains, reasoning_with_service=False) if chains else (None, None)
    lengths = [len(view.input_ids) for view in standard]
    # The data carries reasoning chains: how long crsd_no_verdict's reasoning view is where a pair has one.
    reasoning_mean = sum(len(reasoning[i].input_ids) for i in with_chains) / len(with_chains) if with_chains else None
    plain = padding(lengths, config.batch_size, config.seed, grouped=False)
    grouped = padding(lengths, config.batch_size, config.seed, grouped=True)
    figures = {"profile": profile, "pairs": len(pairs), "batch_size": config.batch_size, "max_length": config.max_length,
               "mean_length": sum(lengths) / len(lengths),
               "reasoning_view_mean_length": reasoning_mean, "plain": plain, "grouped": grouped,
               "tokens_per_batch_grouped_over_plain": grouped["tokens_per_batch"] / plain["tokens_per_batch"]}
    if with_chains:
        # The same grouped batches (every method shares them, keyed by the standard view): how much crsd_no_verdict's
        # reasoning view pads in them, and how many tokens a crsd step carries against a vanilla step.
        for key, views in (("reasoning_view_grouped", reasoning), ("chain_view_grouped", chain_views)):
            view_lengths = [len(view.input_ids) for view in views]
            in_batches = padding(lengths, config.batch_size, config.seed, True, view_lengths)
            view_mean = sum(view_lengths[i] for i in with_chains) / len(with_chains)
            figures[key] = {
                **in_batches, "crsd_over_vanilla_tokens": 1 + in_batches["tokens_per_batch"] / grouped["tokens_per_batch"],
                "crsd_over_vanilla_tokens_unpadded": 1 + view_mean / figures["mean_length"]}
    return figures


def own_pairs(path: str, input_format: str) -> tuple[list, object]:
    """The file's pairs as the adapter reads them (rows it rejects are left out, as prepare quarantines them)."""
    from relevance_distill.config import DEFAULT_SCHEME_FOR_FORMAT
    from relevance_distill.data.adapters import open_adapter
    from relevance_distill.schemas import get_label_scheme

    scheme = get_label_scheme(DEFAULT_SCHEME_FOR_FORMAT[input_format])
    adapter, pairs = open_adapter(input_format, str(SHARED_DATA / path)), []
    for _, row in adapter.rows:
        try:
            pairs.append(adapter.to_pair(row, scheme))
        except ValueError:  # RowError and pydantic's ValidationError: what prepare quarantines
            continue
    return pairs, scheme


def markdown_row(document: dict) -> str:
    """The docs' table row for a result file (docs/benchmarks.md carries it; a test compares)."""
    parts = [f"{name} ({figures['profile']} profile, {figures['pairs']:,} pairs, mean {figures['mean_length']:.0f} of "
             f"{figures['max_length']} tokens): {figures['plain']['padded_share']:.0%} → "
             f"{figures['grouped']['padded_share']:.0%}, tokens per batch × "
             f"{figures['tokens_per_batch_grouped_over_plain']:.2f}" for name, figures in document["datasets"].items()]
    crsd = [f"in the same batches {name}'s reasoning view pads {figures['reasoning_view_grouped']['padded_share']:.0%}, "
            f"so a crsd_no_verdict step carries {figures['reasoning_view_grouped']['crsd_over_vanilla_tokens']:.2f} × a "
            f"vanilla step's tokens ({figures['reasoning_view_grouped']['crsd_over_vanilla_tokens_unpadded']:.2f} "
            "without padding)" + (f", a crsd_chain_view step (query and chain, no service text) "
                                  f"{figures['chain_view_grouped']['crsd_over_vanilla_tokens']:.2f} × "
                                  f"({figures['chain_view_grouped']['crsd_over_vanilla_tokens_unpadded']:.2f})"
                                  if "chain_view_grouped" in figures else "")
            for name, figures in document["datasets"].items() if "reasoning_view_grouped" in figures]
    return (f"| padding in training batches of the standard view, plain shuffle → grouped by length (`padding.py`; "
            f"MiniLM tokenizer, one epoch, seed of the profile) | {' · '.join(parts)}{'; ' if crsd else ''}"
            f"{'; '.join(crsd)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, help="write the figures and their provenance here")
    args = parser.parse_args()
    from _builtin_pairs import builtin_labelled_pairs
    from _machine import provenance, write_result

    from relevance_distill.schemas import get_label_scheme

    results = {"builtin": measure(builtin_labelled_pairs(), "demo", get_label_scheme("local_services"))}
    for dataset, (path, input_format) in OWN_DATA.items():
        if (SHARED_DATA / path).is_file():
            pairs, scheme = own_pairs(path, input_format)
            results[dataset] = measure(pairs, "full", scheme)
        else:
            print(f"{dataset}: {SHARED_DATA / path} is absent, skipped")
    for dataset, figures in results.items():
        print(f"{dataset:12s} {figures['pairs']:6d} pairs, mean {figures['mean_length']:.1f} of {figures['max_length']} "
              f"tokens: padded {figures['plain']['padded_share']:.1%} plain, {figures['grouped']['padded_share']:.1%} "
              f"grouped; tokens per batch grouped ÷ plain {figures['tokens_per_batch_grouped_over_plain']:.2f}")
    document = {"datasets": results, "provenance": provenance()}
    print(markdown_row(document))
    if args.json:
        write_result(args.json, document)


if __name__ == "__main__":
    main()
