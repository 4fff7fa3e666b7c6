from typing import List

from kfp import dsl
from kfp.dsl import Metrics, Output

from components.images import component_image


@dsl.component(base_image=component_image("merge_annotations"), install_kfp_package=False)
def merge_annotations(
    output_uri: str,
    num_shards: int,
    stats: Output[Metrics],
    shard_uris: List[str] = [],
    input_uri: str = "",
    max_pairs: int = 0,
) -> str:
    """Merge every shard under OUTPUT_URI into OUTPUT_URI/merged/ and return its annotations.jsonl URI.

    Refuses a missing shard and checks rows in = annotated + quarantined; with INPUT_URI also that the shards
    hold every input pair (the first MAX_PAIRS when > 0). SHARD_URIS (the fan-out's outputs) orders the merge
    after every shard.
    """
    from relevance_distill import storage
    from relevance_distill.annotate.shards import merge_shards, read_input_pairs

    expected = len(read_input_pairs(input_uri, max_pairs)) if input_uri else None
    summary = merge_shards(output_uri, num_shards, storage.join(output_uri, "merged"), expected_rows=expected)
    for key in ("rows_in", "annotated", "quarantined", "tokens_generated"):
        stats.log_metric(key, summary[key])
    for label, count in summary["labels"].items():
        stats.log_metric(f"label_{label}", count)
    print(f"merged {num_shards} shards ({len(shard_uris)} reported): {summary}")
    return storage.join(output_uri, "merged", "annotations.jsonl")
