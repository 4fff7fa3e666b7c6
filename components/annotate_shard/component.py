from typing import Optional

from kfp import dsl
from kfp.dsl import Metrics, Output

from components.images import component_image


@dsl.component(base_image=component_image("annotate_shard"), install_kfp_package=False)
def annotate_shard(
    teacher_model_uri: str,
    input_uri: str,
    output_uri: str,
    shard_index: int,
    num_shards: int,
    stats: Output[Metrics],
    engine: Optional[str] = None,
    samples: Optional[int] = None,
    temperature: Optional[float] = None,
    max_new_tokens: Optional[int] = None,
    max_pairs: Optional[int] = None,
    tensor_parallel_size: Optional[int] = None,
    reward_model_uri: str = "",
    label_scheme: Optional[str] = None,
    trained_teacher_model_uri: str = "",
) -> str:
    """Annotate one shard of INPUT_URI (pairs whose stable pair_id hash falls in SHARD_INDEX) with the teacher:
    SAMPLES answers per pair, majority label, vote shares, best-scoring reasoning (REWARD_MODEL_URI, optional).

    Writes OUTPUT_URI/shard-XXXXX/ (annotations, quarantine, stats; manifest last) and returns that URI. A shard
    that already exists and verifies is skipped. MAX_PAIRS > 0 annotates only the input's first MAX_PAIRS pairs.
    An empty TEACHER_MODEL_URI means TRAINED_TEACHER_MODEL_URI (where this run's DPO step published the teacher).
    Unset engine settings take EngineConfig's defaults.
    """
    from relevance_distill.annotate.shards import annotate_shard_from_uris
    from relevance_distill.config import (
        EngineConfig,
        config_from_arguments,
        label_scheme_named,
    )

    config = config_from_arguments(EngineConfig, engine=engine, samples=samples, temperature=temperature,
                                   max_new_tokens=max_new_tokens, tensor_parallel_size=tensor_parallel_size)
    result = annotate_shard_from_uris(teacher_model_uri or trained_teacher_model_uri, input_uri, output_uri,
                                      shard_index, num_shards, config, label_scheme_named(label_scheme), max_pairs,
                                      reward_model_uri)
    for key in ("rows_in", "annotated", "quarantined", "tokens_generated", "seconds", "skipped"):
        stats.log_metric(key, result[key])
    return result["shard_uri"]
