"""The production code path on one NVIDIA GPU at reduced size, through the same entry points the pipeline's steps
call: a Qwen2-architecture teacher of a few hundred million parameters (randomly initialised, saved as a base model
the way a user's 7B is), CPT and reasoning SFT on CUDA in bf16 (with rationales generated on the GPU for pairs without
a chain), annotation of search-log pairs by self-consistency on the GPU, the student on CUDA, and the export. Prints
tokens/s or pairs/s per stage and writes them to OUT/gpu_rehearsal.json with the GPU and library versions.

    python scripts/gpu_rehearsal.py --out DIR [--engine transformers|vllm] [--device cuda|cpu] [--size small|tiny]

The engine is vLLM where it is installed (the CUDA images); a machine without it uses the transformers engine on
CUDA and the output says so. ``--device cpu --size tiny`` walks the same path on a machine without a GPU (the test
suite does, to keep the script working); its figures say nothing about a GPU. Not part of CI.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

# The teacher sizes: small is the rehearsal's (about 0.3 B parameters with the 32k vocabulary), tiny the CPU check's.
SIZES = {"small": {"tiny_hidden_size": 1024, "tiny_heads": 16, "tiny_layers": 16, "tiny_vocab_size": 32000},
         "tiny": {"tiny_hidden_size": 128, "tiny_heads": 2, "tiny_layers": 2, "tiny_vocab_size": 2000}}
# Steps and pairs per stage: each stage measures its throughput after the first steps, well inside the 8 minutes.
BUDGET = {"small": {"cpt_steps": 40, "sft_steps": 60, "rationale_pairs": 32, "annotate_pairs": 256, "student_steps": 60},
          "tiny": {"cpt_steps": 3, "sft_steps": 4, "rationale_pairs": 2, "annotate_pairs": 8, "student_steps": 3}}


def _timed(label: str, stages: dict[str, Any], function, *args, units: float = 0.0, unit: str = "", **kwargs):
    started = time.monotonic()
    result = function(*args, **kwargs)
    seconds = time.monotonic() - started
    rate = units / seconds if units and seconds else None
    stages[label] = {"seconds": round(seconds, 2), unit or "units": units, **({f"{unit}_per_second": round(rate, 1)} if rate else {})}
    print(f"{label:<22} {seconds:8.1f} s" + (f"  {rate:10.1f} {unit}/s" if rate else ""), flush=True)
    return result


def base_teacher(directory: Path, texts: list[str], size: str, seed: int = 13) -> str:
    """A randomly initialised Qwen2 model of SIZE with a tokenizer trained on TEXTS, saved like a user's base model."""
    from relevance_distill.teacher.common import (
        TeacherTrainConfig,
        build_tiny_causal_lm,
    )

    model, tokenizer = build_tiny_causal_lm(texts, TeacherTrainConfig(seed=seed, **SIZES[size]))
    model.save_pretrained(directory, safe_serialization=True)
    tokenizer.save_pretrained(directory)
    return str(directory)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--size", default="small", choices=sorted(SIZES))
    parser.add_argument("--engine", default="", choices=["", "transformers", "vllm"],
                        help="Generation engine (default: vllm where it imports, else transformers).")
    args = parser.parse_args()
    import importlib.util

    import torch

    from relevance_distill.annotate.shards import annotate_shard
    from relevance_distill.builtin_world.generate import generate_dataset
    from relevance_distill.config import (
        PRIMARY_STUDENT_METHOD,
        DataGenerationConfig,
        EngineConfig,
        student_config_for,
    )
    from relevance_distill.data.readers import read_models
    from relevance_distill.data.split import split_pairs
    from relevance_distill.devices import GPUS_ENVIRONMENT
    from relevance_distill.export import ExportConfig, export_student
    from relevance_distill.llm.engines import make_engine
    from relevance_distill.schemas import QueryServicePair, get_label_scheme
    from relevance_distill.student.train import train_student
    from relevance_distill.teacher.profiles import step_config_with
    from relevance_distill.teacher.stages import cpt_step, sft_step

    if args.device == "cuda":
        os.environ[GPUS_ENVIRONMENT] = "1"  # as the compiled pipeline sets it: no silent CPU fallback
    engine = args.engine or ("vllm" if importlib.util.find_spec("vllm") else "transformers")
    if engine == "transformers" and args.device == "cuda":
        print("annotation and rationales: the transformers engine on CUDA (vLLM is not installed here)", flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    scheme = get_label_scheme("local_services")
    budget = BUDGET[args.size]
    data = generate_dataset(DataGenerationConfig(num_services=300, num_queries=200, num_log_pairs=budget["annotate_pairs"],
                                                 corpus_documents=1000), out / "data")
    pairs = read_models(str(out / "data" / "labeled.jsonl"), QueryServicePair)
    splits = split_pairs(pairs, {"train": 0.8, "dev": 0.1, "test": 0.1}, "query", seed=13)
    # Half the training pairs without their chains: SFT first has rationales written for them, as for a user's data.
    train = [p if i % 2 else p.model_copy(update={"reasoning": None}) for i, p in enumerate(splits["train"])]
    texts = [json.loads(line)["text"] for line in (out / "data" / "corpus.jsonl").read_text().splitlines()]
    stages: dict[str, Any] = {}
    base = _timed("base model (build)", stages, base_teacher, out / "base", texts + [p.query for p in pairs], args.size)
    parameters = sum(p.numel() for p in __import__("transformers").AutoModelForCausalLM.from_pretrained(base).parameters())
    print(f"teacher: Qwen2, {parameters / 1e6:.0f} M parameters, device {args.device}", flush=True)

    precision = "bf16" if args.device == "cuda" else "fp32"
    device = {"device": args.device, "precision": precision, "init": base, "save_steps": 1000}
    cpt_config = step_config_with("demo", "cpt", {**device, "max_steps": budget["cpt_steps"], "batch_size": 8,
                                                   "max_length": 512, "learning_rate": 3e-4})
    cpt_tokens = cpt_config.max_steps * cpt_config.batch_size * cpt_config.max_length  # packed: full sequences
    cpt = _timed("teacher CPT", stages, cpt_step, cpt_config, str(out / "data" / "corpus.jsonl"), str(out / "cpt"),
                 scheme, train, units=cpt_tokens, unit="tokens")
    sft_config = step_config_with("demo", "sft", {**device, "max_steps": budget["sft_steps"], "batch_size": 8,
                                                   "max_length": 768, "learning_rate": 3e-4,
                                                   "rationales": {"engine": engine, "max_pairs": budget["rationale_pairs"],
                                                                  "samples": 2, "max_new_tokens": 128, "min_kept": 1}})
    sft = _timed("rationales + SFT", stages, sft_step, sft_config, train, scheme, str(out / "sft"), cpt["model_uri"],
                 units=sft_config.max_steps * sft_config.batch_size, unit="examples")
    stages["rationales + SFT"]["rationales"] = sft["metrics"].get("rationales", {})

    logs = read_models(str(out / "data" / "search_logs.jsonl"), QueryServicePair)[: budget["annotate_pairs"]]
    engine_config = EngineConfig(engine=engine, samples=3, temperature=0.7, max_new_tokens=128, batch_size=32)
    started = time.monotonic()
    annotator = make_engine(sft["model_uri"], engine_config)
    stages["annotation engine start"] = {"seconds": round(time.monotonic() - started, 2)}
    try:
        annotated = _timed("annotation", stages, annotate_shard, logs, 0, 1, annotator, scheme, str(out / "annotations"),
                           sft["model_uri"], units=len(logs), unit="pairs")
    finally:
        annotator.close()
    stages["annotation"]["annotated"] = annotated.get("annotated")

    student = student_config_for("smoke", device=args.device, max_steps=budget["student_steps"], eval_every_steps=budget["student_steps"],
                                 method=PRIMARY_STUDENT_METHOD)
    _timed("student (CRSD)", stages, train_student, student, scheme, splits["train"], splits["dev"], out / "student",
           units=student.max_steps * student.batch_size, unit="pairs")
    _timed("export", stages, export_student, out / "student" / "best", str(out / "published"), scheme, "relevance", "v1",
           config=ExportConfig(onnx=False, quantize=False, openvino=False, openvino_int8=False, bfloat16=False))
    report = {"device": args.device, "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
              "torch": torch.__version__, "cuda": torch.version.cuda, "engine": engine, "size": args.size,
              "teacher_parameters": parameters, "python": platform.python_version(), "stages": stages,
              "data": data.get("counts")}
    (out / "gpu_rehearsal.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(f"wrote {out / 'gpu_rehearsal.json'}", flush=True)


if __name__ == "__main__":
    main()
