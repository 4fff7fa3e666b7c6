"""What every teacher step shares: its config base, the tiny model for the smoke profile, loading, saving.

Teacher steps train with TRL/transformers trainers; this module only builds and moves models.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from relevance_distill import storage
from relevance_distill.distributed import ddp_arguments, from_main, on_main, world_size
from relevance_distill.progress import quiet_trainer, report_result
from relevance_distill.schemas import StrictModel

# vLLM's CPU attention supports these head sizes only; the tiny profiles use one of them.
VLLM_CPU_HEAD_DIMS = (32, 64, 80, 96, 112, 128, 160, 192, 224, 256, 512)


class TeacherTrainConfig(StrictModel):
    """Settings shared by the teacher's training steps (CPT, SFT, reward model, DPO)."""

    init: str = Field(default="tiny", description="'tiny' (random Qwen2 built here), a Hugging Face directory, or an s3:// prefix.")
    max_steps: int = Field(default=200, ge=1, description="Optimizer steps.")
    batch_size: int = Field(default=8, ge=1, description="Examples per device per step.")
    gradient_accumulation_steps: int = Field(default=1, ge=1, description="Micro-batches per optimizer step.")
    learning_rate: float = Field(default=5e-4, gt=0, description="Peak learning rate (tiny models take large ones; 7B LoRA ~1e-4).")
    max_length: int = Field(default=512, ge=64, description="Token budget per example.")
    lora: bool = Field(default=False, description="Train LoRA adapters (peft) instead of all weights; merged when saved.")
    lora_r: int = Field(default=16, ge=1, description="LoRA rank.")
    lora_alpha: int = Field(default=32, ge=1, description="LoRA scaling.")
    lora_target_modules: list[str] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        description="Modules that get LoRA adapters (Qwen2 names).")
    device: Literal["auto", "cpu", "cuda"] = Field(
        default="auto", description="'auto': CUDA when torch sees a GPU, else the CPU (the choice is logged); 'cuda' "
        "fails at once without one. A step the compiled pipeline gave GPUs fails at once without them either way.")
    precision: Literal["auto", "fp32", "bf16"] = Field(
        default="auto", description="'auto': bf16 where the GPU supports it, else fp32.")
    save_steps: int = Field(default=50, ge=1, description="Checkpoint interval; a rerun resumes from the last checkpoint.")
    seed: int = Field(default=13, description="Seed of initialisation, data order and sampling.")
    tiny_hidden_size: int = Field(default=128, ge=32, description="Hidden size of the 'tiny' model.")
    tiny_heads: int = Field(default=2, ge=1, description="Attention heads of the 'tiny' model (head dim = hidden / heads).")
    tiny_layers: int = Field(default=2, ge=1, description="Layers of the 'tiny' model.")
    tiny_vocab_size: int = Field(default=4000, ge=300, description="BPE vocabulary trained here for the 'tiny' model.")

    @model_validator(mode="after")
    def _vllm_compatible_head_dim(self) -> TeacherTrainConfig:
        if self.init == "tiny":
            head_dim, remainder = divmod(self.tiny_hidden_size, self.tiny_heads)
            if remainder or head_dim not in VLLM_CPU_HEAD_DIMS:
                raise ValueError(f"tiny head dimension {self.tiny_hidden_size}/{self.tiny_heads} must be one of "
                                 f"{VLLM_CPU_HEAD_DIMS} (vLLM's CPU attention)")
        return self

    def training_arguments(self, output_dir: str | Path) -> dict[str, Any]:
        """Keyword arguments shared by TRL's SFTConfig/DPOConfig and transformers' TrainingArguments."""
        import torch

        from relevance_distill.devices import choose_device

        device = choose_device(self.device, "teacher training")
        bf16 = self.precision == "bf16" or (self.precision == "auto" and device.type == "cuda" and torch.cuda.is_bf16_supported())
        return {"output_dir": str(output_dir), "max_steps": self.max_steps, "per_device_train_batch_size": self.batch_size,
                "gradient_accumulation_steps": self.gradient_accumulation_steps, "learning_rate": self.learning_rate,
                "lr_scheduler_type": "cosine", "warmup_steps": max(1, self.max_steps // 20), "logging_steps": max(1, min(10, self.max_steps // 10)),
                "save_steps": self.save_steps, "save_total_limit": 1, "report_to": [], "seed": self.seed, "bf16": bf16,
                "use_cpu": device.type == "cpu", "disable_tqdm": True, **ddp_arguments()}

    def peft_config(self):
        if not self.lora:
            return None
        from peft import LoraConfig

        return LoraConfig(r=self.lora_r, lora_alpha=self.lora_alpha, target_modules=self.lora_target_modules,
                          lora_dropout=0.05, task_type="CAUSAL_LM")


def train_bpe_tokenizer(texts: list[str], vocab_size: int) -> Any:
    """A byte-level BPE tokenizer trained here (no hub download); byte fallback means no unknown tokens.

    The tiny teacher is saved as a Qwen2 model, and a Qwen2 tokenizer is loaded (transformers 5 and vLLM alike) by
    rebuilding its normaliser and pre-tokeniser around the saved vocabulary and merges. So the tokenizer is trained
    with exactly those (NFC, Qwen2's split pattern: every digit a token of its own): otherwise CPT would train on
    one tokenization and SFT, evaluation and annotation would read another (whole-number tokens learnt in CPT would
    never be seen again)."""
    from tokenizers import (
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        trainers,
    )
    from transformers import PreTrainedTokenizerFast
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    backend = Tokenizer(models.BPE())
    backend.normalizer = normalizers.NFC()
    backend.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    backend.decoder = decoders.ByteLevel()

    def trained() -> str:
        backend.train_from_iterator(texts, trainers.BpeTrainer(
            vocab_size=vocab_size, special_tokens=["<|endoftext|>", "<|pad|>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
        return backend.to_str()

    # Trained once (on the main process of a launch) and handed to every worker: BPE breaks ties between equally
    # frequent merges in hash order, so two processes could learn different vocabularies from the same text.
    return PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(from_main(trained)), eos_token="<|endoftext|>",
                                   pad_token="<|pad|>", model_max_length=2048)


def build_tiny_causal_lm(texts: list[str], config: TeacherTrainConfig) -> tuple[Any, Any]:
    """A random Qwen2-architecture model from a config, with a tokenizer trained on ``texts``."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    tokenizer = train_bpe_tokenizer(texts, config.tiny_vocab_size)
    model_config = Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=config.tiny_hidden_size, intermediate_size=2 * config.tiny_hidden_size,
        num_hidden_layers=config.tiny_layers, num_attention_heads=config.tiny_heads, num_key_value_heads=config.tiny_heads,
        max_position_embeddings=2048, tie_word_embeddings=True, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(config.seed)
    return Qwen2ForCausalLM(model_config), tokenizer


def last_checkpoint(output_dir: str | Path) -> str | None:
    """The newest ``checkpoint-N`` of a previous run of this step, to resume from."""
    checkpoints = sorted(Path(output_dir).glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
    return str(checkpoints[-1]) if checkpoints else None


def save_model(model: Any, tokenizer: Any, directory: str | Path, metrics: dict[str, Any]) -> Path:
    """HF directory, safetensors only, LoRA merged; ``metrics.json`` holds the loss curve for the report."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    model.save_pretrained(directory, safe_serialization=True)
    tokenizer.save_pretrained(directory)
    (directory / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    return directory


def loss_curve(log_history: list[dict[str, Any]]) -> list[dict[str, float]]:
    return [{"step": entry["step"], "loss": entry["loss"]} for entry in log_history if "loss" in entry and "step" in entry]


def setup_training_process() -> None:
    """Tokenizer worker threads fight the trainer for the two cores of a small machine, and library progress
    bars and notices would bury the step's own progress lines."""
    from relevance_distill.hf import quiet_transformers

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    quiet_transformers()


def restore_checkpoint(checkpoint_uri: str, checkpoints_dir: Path) -> None:
    """Bring back the last checkpoint a previous attempt published (a pod restart starts with an empty disk); in a
    launch the main process fetches it into the shared directory while the others wait."""
    def fetch() -> None:
        latest = storage.join(checkpoint_uri, "latest")
        if last_checkpoint(checkpoints_dir) is None and storage.exists(storage.join(latest, storage.MANIFEST_NAME)):
            step = storage.read_manifest(latest).metadata["global_step"]
            storage.fetch_dir(latest, checkpoints_dir / f"checkpoint-{step}")

    on_main(fetch)


def checkpoint_sync_callback(checkpoint_uri: str) -> Any:
    """A TrainerCallback that publishes every saved checkpoint to CHECKPOINT_URI/latest (manifest last)."""
    from transformers import TrainerCallback

    class CheckpointSync(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            directory = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if state.is_world_process_zero and directory.is_dir():
                storage.publish_dir(directory, storage.join(checkpoint_uri, "latest"),
                                    metadata={"global_step": state.global_step})
            return control

    return CheckpointSync()


def train_resumable(trainer: Any, checkpoints_dir: Path, label: str, checkpoint_uri: str | None = None) -> int:
    """Train, resuming from the last checkpoint in CHECKPOINTS_DIR, or from the copy published under
    CHECKPOINT_URI when the local disk is fresh (and publishing every new one there); returns the step resumed
    from (0: a fresh start). Progress is reported as LABEL (a bar on a terminal, periodic lines in a log)."""
    quiet_trainer(trainer, label)
    if checkpoint_uri:
        restore_checkpoint(checkpoint_uri, checkpoints_dir)
        trainer.add_callback(checkpoint_sync_callback(checkpoint_uri))
    resume_from = last_checkpoint(checkpoints_dir)
    trainer.train(resume_from_checkpoint=resume_from)
    return int(resume_from.rsplit("-", 1)[-1]) if resume_from else 0


def length_grouping_arguments() -> dict[str, Any]:
    """Trainer arguments that batch examples of similar length, as the installed transformers spells them:
    ``train_sampling_strategy="group_by_length"`` (transformers 5) or ``group_by_length=True`` (4.x)."""
    from transformers import TrainingArguments

    if "train_sampling_strategy" in TrainingArguments.__dataclass_fields__:
        return {"train_sampling_strategy": "group_by_length"}
    return {"group_by_length": True}


def train_and_save(trainer: Any, tokenizer: Any, output: Path, metrics: dict[str, Any],
                   checkpoint_uri: str | None = None) -> dict[str, Any]:
    """Train resumably (``train_resumable`` on OUTPUT/checkpoints), then save OUTPUT/model and its metrics."""
    resumed_from = train_resumable(trainer, output / "checkpoints", f"teacher {metrics['step']}", checkpoint_uri)
    # The Trainer's own wall time of the training loop (checkpoint saves included, model loading and saving not).
    runtime = next((entry["train_runtime"] for entry in reversed(trainer.state.log_history) if "train_runtime" in entry),
                   None)
    metrics = {**metrics, "resumed_from_step": resumed_from, "world_size": world_size(),
               "train_runtime_seconds": runtime, "loss_curve": loss_curve(trainer.state.log_history)}
    curve = metrics["loss_curve"]
    if curve:
        report_result(f"teacher {metrics['step']}: loss {curve[0]['loss']:.4f} → {curve[-1]['loss']:.4f} "
                      f"after {trainer.state.global_step} steps")
    model = trainer.accelerator.unwrap_model(trainer.model) if hasattr(trainer, "accelerator") else trainer.model

    def save() -> None:
        save_model(model, tokenizer, output / "model", metrics)
        (output / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")

    on_main(save)
    return metrics
