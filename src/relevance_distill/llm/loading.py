"""Loading a causal LM from a local directory or a published s3:// prefix: the one loader the teacher's training,
its evaluation, the reward model and the annotation engines share."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from relevance_distill import storage


def resolve_model_dir(uri: str) -> Path:
    """A local, verified directory for a model URI (s3:// prefixes must have been published with a manifest)."""
    if storage.is_s3(uri):
        return storage.fetch_dir(uri)
    path = storage.local_path(uri)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"teacher model {uri!r} is not a directory with config.json")
    return path


def load_causal_lm(uri: str, device: Any = None) -> tuple[Any, Any]:
    """The model and tokenizer at URI (an s3:// prefix is fetched once into the process's cache, under TMPDIR: the
    step's /scratch volume on a cluster). Weights load memory-mapped from safetensors in their saved dtype (a bf16 7B
    model takes its 15 GB once, not twice in fp32); DEVICE, when given, is where the model goes (training steps leave
    placement to the Trainer)."""
    from transformers import AutoModelForCausalLM

    from relevance_distill.hf import quiet_transformers

    quiet_transformers()
    directory = resolve_model_dir(uri)
    model = AutoModelForCausalLM.from_pretrained(directory, dtype="auto")
    return (model.to(device) if device is not None else model), load_tokenizer(directory)


def load_tokenizer(directory: str | Path) -> Any:
    """A saved model's tokenizer, padding with end-of-text where it names no pad token (decoders often do not)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(directory)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer
