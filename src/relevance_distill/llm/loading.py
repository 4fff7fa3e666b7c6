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


def load_causal_lm(uri: str) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM

    from relevance_distill.hf import quiet_transformers

    quiet_transformers()
    directory = resolve_model_dir(uri)
    return AutoModelForCausalLM.from_pretrained(directory), load_tokenizer(directory)


def load_tokenizer(directory: str | Path) -> Any:
    """A saved model's tokenizer, padding with end-of-text where it names no pad token (decoders often do not)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(directory)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer
