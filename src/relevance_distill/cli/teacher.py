"""`relevance-distill teacher | annotate`: build the teacher and annotate pairs with it."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from relevance_distill import storage
from relevance_distill.cli.common import (
    app,
    fail,
    print_counts,
    read_pairs,
    scheme_from,
)
from relevance_distill.config import ConfigError
from relevance_distill.layout import MERGED


@app.command("teacher")
def teacher_command(
    corpus: Annotated[str, typer.Option(help="Platform text for CPT (JSONL of {\"text\": …}).")],
    train: Annotated[str, typer.Option(help="Gold pairs with labels and reasoning (JSONL).")],
    test: Annotated[str, typer.Option(help="Gold test pairs for the teacher's macro-F1.")],
    output: Annotated[str, typer.Option(help="Directory or s3:// prefix for cpt/ sft/ reward/ dpo/ and report.json.")],
    profile: Annotated[Optional[str], typer.Option(help="smoke, demo (default), deep, strong, production-qwen2.5-7b (packaged) or a TeacherConfig YAML file.")] = None,
    label_scheme: Annotated[Optional[str], typer.Option(help="Built-in scheme name or a label_scheme.json (default: the prepared data's).")] = None,
    eval_pairs: Annotated[Optional[int], typer.Option(help="Gold test pairs the teacher answers after SFT and after DPO (default 0: all).")] = None,
    nproc_per_node: Annotated[int, typer.Option(help="Worker processes on this node (torch's elastic launcher): one per "
                                                     "GPU, data-parallel (DDP; gloo on the CPU). 1: this process.")] = 1,
) -> None:
    """Build the teacher: CPT → reasoning SFT → reward model → DPO, measured after SFT and after DPO."""
    import sys

    from relevance_distill.config import TeacherRunConfig, field_default
    from relevance_distill.distributed import is_main, launch, world_size
    from relevance_distill.teacher.profiles import teacher_config
    from relevance_distill.teacher.run import run_teacher

    if nproc_per_node < 1:
        fail(f"--nproc-per-node must be at least 1, got {nproc_per_node}")
    if nproc_per_node > 1 and world_size() == 1:
        # The same command in every worker; inside the launch WORLD_SIZE is set, so they train instead of relaunching.
        # A worker that dies fails the launch; running the command again resumes each step from its last checkpoint.
        raise typer.Exit(launch("relevance_distill.cli", sys.argv[1:], nproc_per_node))
    try:
        config = teacher_config(profile)
        report = run_teacher(config, corpus, read_pairs(train), read_pairs(test), scheme_from(label_scheme), output,
                             eval_pairs or field_default(TeacherRunConfig, "eval_pairs"))
    except (ConfigError, ValueError, FileNotFoundError) as error:
        fail(str(error))
    if not is_main():
        return
    print_counts("teacher", {"majority macro-F1": f"{report['majority_macro_f1']:.4f}",
                              "after SFT macro-F1": f"{report['after_sft']['macro_f1']:.4f}",
                              "after DPO macro-F1": f"{report['after_dpo']['macro_f1']:.4f}",
                              "reward after SFT": report["after_sft"].get("reward", {}),
                              "reward after DPO": report["after_dpo"].get("reward", {})})
    print(f"teacher model: {report['teacher_model_uri']}")
    print(f"report: {storage.join(output, 'report.json')}")


@app.command("annotate")
def annotate_command(
    teacher: Annotated[str, typer.Option(help="Teacher model: s3:// prefix (with manifest) or directory.")],
    input_uri: Annotated[str, typer.Option("--input", help="Pairs to annotate (JSONL, our schema).")],
    output: Annotated[str, typer.Option(help="Prefix for shard-XXXXX/ outputs and merged/.")],
    shards: Annotated[Optional[int], typer.Option(help="Number of shards, each a separate unit of work (default: the "
                                                        "cluster's annotation_shards, 4).")] = None,
    engine: Annotated[Optional[str], typer.Option(help="transformers (CPU fallback, default) or vllm.")] = None,
    samples: Annotated[Optional[int], typer.Option(help="Self-consistency samples per pair (default 5).")] = None,
    temperature: Annotated[Optional[float], typer.Option(help="Sampling temperature (default 0.7).")] = None,
    max_new_tokens: Annotated[Optional[int], typer.Option(help="Longest answer (default 192).")] = None,
    label_scheme: Annotated[Optional[str], typer.Option(help="Built-in scheme name or a label_scheme.json (default: the prepared data's).")] = None,
    only_shard: Annotated[Optional[int], typer.Option(help="Run just this shard (one pod of a fan-out).")] = None,
    max_pairs: Annotated[Optional[int], typer.Option(help="Annotate only the input's first N pairs (default 0: all).")] = None,
    reward_model: Annotated[Optional[str], typer.Option(help="Reward model: picks the best-scoring majority reasoning.")] = None,
    tensor_parallel_size: Annotated[Optional[int], typer.Option(help="GPUs per vLLM replica (default 1).")] = None,
) -> None:
    """Annotate pairs with the teacher: sharded, self-consistent, resumable; merge with accounting."""
    from relevance_distill.annotate.shards import (
        annotate_shard,
        merge_shards,
        read_input_pairs,
    )
    from relevance_distill.config import (
        EngineConfig,
        KubernetesConfig,
        config_from_arguments,
        field_default,
    )
    from relevance_distill.llm.engines import make_engine
    from relevance_distill.teacher.stages import load_reward_model

    shards = shards or field_default(KubernetesConfig, "annotation_shards")
    try:
        config = config_from_arguments(EngineConfig, engine=engine, samples=samples, temperature=temperature,
                                       max_new_tokens=max_new_tokens, tensor_parallel_size=tensor_parallel_size)
        pairs = read_input_pairs(input_uri, max_pairs)
        scheme = scheme_from(label_scheme)
        reward = load_reward_model(reward_model, scheme) if reward_model else None
        generator = make_engine(teacher, config)
        indices = [only_shard] if only_shard is not None else list(range(shards))
        try:
            for index in indices:
                stats = annotate_shard(pairs, index, shards, generator, scheme, output, teacher, reward)
                print(f"shard {index}: {'skipped (done)' if stats['skipped'] else 'annotated'} "
                      f"{stats['annotated']}/{stats['rows_in']}, quarantined {stats['quarantined']}")
        finally:
            generator.close()
        if only_shard is None:
            summary = merge_shards(output, shards, storage.join(output, MERGED), expected_rows=len(pairs))
            print(f"merged: rows in {summary['rows_in']} = annotated {summary['annotated']} + quarantined "
                  f"{summary['quarantined']}; labels {summary['labels']}")
    except (ConfigError, ValueError, FileNotFoundError, RuntimeError) as error:
        fail(str(error))


