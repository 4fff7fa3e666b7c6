"""The student's two input views, built the same way in training, evaluation and serving.

Standard view:  ``[CLS] query [SEP] service [SEP]``            (the only view in production)
Reasoning view: ``[CLS] query [SEP] service [SEP] reasoning [SEP]``
                or, without the service, ``[CLS] query [SEP] reasoning [SEP]`` (``crsd_chain_view``)

Truncation never fails: the query keeps at most ``max_query_tokens``; the service gets the rest of
``max_length``; in the reasoning view the service keeps exactly the tokens it had in the standard view (so
both views see the same service text) and the reasoning fills what remains of ``reasoning_max_length``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relevance_distill.schemas import QueryServicePair

MAX_QUERY_TOKENS = 32


@dataclass(frozen=True)
class EncodedView:
    input_ids: list[int]
    token_type_ids: list[int]


class ViewEncoder:
    """Builds token ids for both views from a Hugging Face tokenizer (fast or slow)."""

    def __init__(self, tokenizer: Any, max_length: int = 128, reasoning_max_length: int = 256,
                 max_query_tokens: int = MAX_QUERY_TOKENS):
        if max_length < max_query_tokens + 8:
            raise ValueError(f"max_length {max_length} must leave room for a query of {max_query_tokens} tokens plus a service")
        if reasoning_max_length < max_length:
            raise ValueError(f"reasoning_max_length {reasoning_max_length} must be >= max_length {max_length}")
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.reasoning_max_length = reasoning_max_length
        self.max_query_tokens = max_query_tokens
        self.cls_id = tokenizer.cls_token_id
        self.sep_id = tokenizer.sep_token_id
        self.pad_id = tokenizer.pad_token_id
        if None in (self.cls_id, self.sep_id, self.pad_id):
            raise ValueError("the student tokenizer needs [CLS], [SEP] and [PAD] tokens (a BERT-style tokenizer)")

    def _ids(self, texts: list[str]) -> list[list[int]]:
        return self.tokenizer(texts, add_special_tokens=False, truncation=False)["input_ids"]

    def encode(self, queries: list[str], services: list[str], reasonings: list[str] | None = None,
               reasoning_with_service: bool = True) -> tuple[list[EncodedView], list[EncodedView] | None]:
        query_ids = [ids[: self.max_query_tokens] for ids in self._ids(queries)]
        service_ids = self._ids(services)
        standard, service_kept = [], []
        for query, service in zip(query_ids, service_ids):
            room = self.max_length - len(query) - 3
            service = service[:room]
            service_kept.append(service)
            standard.append(EncodedView(
                input_ids=[self.cls_id, *query, self.sep_id, *service, self.sep_id],
                token_type_ids=[0] * (len(query) + 2) + [1] * (len(service) + 1),
            ))
        if reasonings is None:
            return standard, None
        reasoning_views = []
        for query, service, reasoning in zip(query_ids, service_kept, self._ids(reasonings)):
            if not reasoning_with_service:
                reasoning = reasoning[: max(self.reasoning_max_length - len(query) - 3, 0)]
                reasoning_views.append(EncodedView(
                    input_ids=[self.cls_id, *query, self.sep_id, *reasoning, self.sep_id],
                    token_type_ids=[0] * (len(query) + 2) + [1] * (len(reasoning) + 1),
                ))
                continue
            room = self.reasoning_max_length - len(query) - len(service) - 4
            reasoning = reasoning[: max(room, 0)]
            reasoning_views.append(EncodedView(
                input_ids=[self.cls_id, *query, self.sep_id, *service, self.sep_id, *reasoning, self.sep_id],
                token_type_ids=[0] * (len(query) + 2) + [1] * (len(service) + len(reasoning) + 2),
            ))
        return standard, reasoning_views

    def encode_pairs(self, pairs: list[QueryServicePair], reasonings: list[str] | None = None,
                     reasoning_with_service: bool = True):
        return self.encode([p.query for p in pairs], [p.service.to_text() for p in pairs], reasonings,
                           reasoning_with_service)


def collate_arrays(views: list[EncodedView], pad_id: int) -> dict[str, Any]:
    """Pad a batch to its longest sequence (dynamic padding): int64 numpy arrays, what ONNX Runtime takes."""
    import numpy as np

    lengths = np.fromiter((len(view.input_ids) for view in views), dtype=np.int64, count=len(views))
    width = int(lengths.max())
    input_ids = np.full((len(views), width), pad_id, dtype=np.int64)
    token_type_ids = np.zeros((len(views), width), dtype=np.int64)
    for row, view in enumerate(views):
        input_ids[row, : lengths[row]] = view.input_ids
        token_type_ids[row, : lengths[row]] = view.token_type_ids
    attention_mask = (np.arange(width)[None, :] < lengths[:, None]).astype(np.int64)
    return {"input_ids": input_ids, "token_type_ids": token_type_ids, "attention_mask": attention_mask}


def collate(views: list[EncodedView], pad_id: int):
    """``collate_arrays`` as torch tensors (training, evaluation, the torch backend)."""
    import torch

    return {name: torch.from_numpy(array) for name, array in collate_arrays(views, pad_id).items()}


VIEW_SETTINGS_FILE = "views.json"


def save_view_settings(model_dir: str | Path, max_length: int, reasoning_max_length: int) -> None:
    """Record the token budgets a model was trained with, so evaluation and export build the same inputs."""
    settings = {"max_length": max_length, "reasoning_max_length": reasoning_max_length,
                "max_query_tokens": MAX_QUERY_TOKENS}
    (Path(model_dir) / VIEW_SETTINGS_FILE).write_text(json.dumps(settings, indent=2), encoding="utf-8")


def load_view_settings(model_dir: str | Path) -> dict[str, int]:
    path = Path(model_dir) / VIEW_SETTINGS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{model_dir} has no {VIEW_SETTINGS_FILE}: it was not saved by the student trainer")
    return json.loads(path.read_text(encoding="utf-8"))
