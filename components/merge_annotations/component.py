from typing import List, Optional

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
    max_pairs: Optional[int] = None,
) -> str:
    """Merge every shard under OUTPUT_URI into OUTPUT_URI/merged/ and return its annotations.jsonl URI.

    Refuses a missing shard and checks rows in = annotated + quarantined; with INPUT_URI also that the shards
    hold every input pair (the first MAX_PAIRS when > 0). SHARD_URIS (the fan-out's outputs) orders the merge
    after every shard.
    """
    from relevance_distill.annotate.shards import merge_step

    summary = merge_step(output_uri, num_shards, input_uri, max_pairs)
    for key in ("rows_in", "annotated", "quarantined", "tokens_generated"):
        stats.log_metric(key, summary[key])
    for label, count in summary["labels"].items():
        stats.log_metric(f"label_{label}", count)
    print(f"merged {num_shards} shards ({len(shard_uris)} reported): {summary}")
    return summary["annotations_uri"]
