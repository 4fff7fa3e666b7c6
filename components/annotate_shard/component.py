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
    engine: str = "vllm",
    samples: int = 5,
    temperature: float = 0.7,
    max_new_tokens: int = 192,
    max_pairs: int = 0,
    tensor_parallel_size: int = 1,
    reward_model_uri: str = "",
    label_scheme: str = "local_services",
    trained_teacher_model_uri: str = "",
) -> str:
    """Annotate one shard of INPUT_URI (pairs whose stable pair_id hash falls in SHARD_INDEX) with the teacher:
    SAMPLES answers per pair, majority label, vote shares, best-scoring reasoning (REWARD_MODEL_URI, optional).

    Writes OUTPUT_URI/shard-XXXXX/ (annotations, quarantine, stats; manifest last) and returns that URI. A shard
    that already exists and verifies is skipped. MAX_PAIRS > 0 annotates only the input's first MAX_PAIRS pairs.
    An empty TEACHER_MODEL_URI means TRAINED_TEACHER_MODEL_URI (where this run's DPO step published the teacher).
    """
    from relevance_distill.annotate.engines import EngineConfig, make_engine
    from relevance_distill.annotate.shards import annotate_shard as annotate, read_input_pairs, shard_uri
    from relevance_distill.config import parse_config
    from relevance_distill.schemas import get_label_scheme
    from relevance_distill.teacher.stages import load_reward_model

    teacher = teacher_model_uri or trained_teacher_model_uri
    if not teacher:
        raise ValueError("no teacher: set teacher_model_uri (or trained_teacher_model_uri)")
    scheme = get_label_scheme(label_scheme)
    config = parse_config(EngineConfig, {"engine": engine, "samples": samples, "temperature": temperature,
                                         "max_new_tokens": max_new_tokens, "tensor_parallel_size": tensor_parallel_size})
    reward = load_reward_model(reward_model_uri, scheme) if reward_model_uri else None
    result = annotate(read_input_pairs(input_uri, max_pairs), shard_index, num_shards, make_engine(teacher, config),
                      scheme, output_uri, teacher, reward)
    for key in ("rows_in", "annotated", "quarantined", "tokens_generated", "seconds"):
        stats.log_metric(key, result[key])
    stats.log_metric("skipped", result["skipped"])
    return shard_uri(output_uri, shard_index)
