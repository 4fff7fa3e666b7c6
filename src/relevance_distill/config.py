"""Stage configs (one pydantic model per stage) and YAML loading with errors a user can act on.

Every field is documented once, in ``Field(description=...)``; the README's config reference and the CLI
help are generated from these descriptions, never written twice.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, TypeVar, get_args

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from relevance_distill.evaluation.gate import GateConfig
from relevance_distill.schemas import BUILTIN_LABEL_SCHEMES, LabelScheme, StrictModel, get_label_scheme

ConfigT = TypeVar("ConfigT", bound=StrictModel)

DataFormat = Literal["jsonl", "crowdflower", "esci", "qbqtc"]
SplitStrategy = Literal["query", "random"]


class ConfigError(ValueError):
    """A config file or value is wrong; the message names each bad field's path and the allowed values."""


class StorageConfig(StrictModel):
    """Where artifacts live. Credentials never appear here: boto3 reads the standard AWS variables."""

    root_uri: str = Field(
        default="s3://relevance-distill",
        description="Root for every artifact: 's3://bucket/prefix' or a local directory.",
    )
    endpoint_url: str | None = Field(
        default=None,
        description="S3 endpoint for MinIO/SeaweedFS/moto; None uses AWS_ENDPOINT_URL or AWS itself.",
    )
    multipart_threshold_mb: int = Field(
        default=64, ge=5, description="Files larger than this are uploaded in parts (S3's minimum part is 5 MiB)."
    )


class DataGenerationConfig(StrictModel):
    """Sizes and seed of the built-in local-services data (see ``data/generate.py``)."""

    seed: int = Field(default=13, description="Seed of every random choice; the same seed gives the same bytes.")
    num_services: int = Field(default=600, ge=10, description="Services in the catalogue.")
    num_queries: int = Field(default=400, ge=5, description="Distinct labelled queries.")
    candidates_per_query: int = Field(
        default=8, ge=2, description="Services judged per labelled query (a mix of matches and near misses)."
    )
    num_log_pairs: int = Field(default=3000, ge=0, description="Unlabelled search-log pairs for the teacher to annotate.")
    corpus_documents: int = Field(default=2000, ge=0, description="Platform-text documents for continued pre-training.")
    chinese_share: float = Field(default=0.4, ge=0, le=1, description="Share of queries written in Chinese.")


class PrepareDataConfig(StrictModel):
    """Validation, de-duplication and splitting of labelled pairs."""

    input_format: DataFormat = Field(default="jsonl", description="Reader/adapter for the input file.")
    label_scheme: str | LabelScheme = Field(
        default="local_services",
        description=f"Built-in scheme name ({', '.join(sorted(BUILTIN_LABEL_SCHEMES))}) or a full LabelScheme.",
    )
    require_label: bool = Field(default=True, description="Quarantine rows without a label (gold data needs one).")
    deduplicate: bool = Field(
        default=True, description="Quarantine repeated (query, service) pairs; the first occurrence is kept."
    )
    split_strategy: SplitStrategy = Field(
        default="query", description="'query' keeps each query's pairs in one split; 'random' splits pairs freely."
    )
    split_fractions: dict[str, float] = Field(
        default_factory=lambda: {"train": 0.8, "dev": 0.1, "test": 0.1},
        description="Split name to share of pairs; shares must sum to 1.",
    )
    seed: int = Field(default=13, description="Seed of the split assignment.")

    @field_validator("label_scheme")
    @classmethod
    def _scheme_is_known(cls, value: str | LabelScheme) -> str | LabelScheme:
        if isinstance(value, str):
            get_label_scheme(value)
        return value

    @model_validator(mode="after")
    def _fractions_sum_to_one(self) -> PrepareDataConfig:
        total = sum(self.split_fractions.values())
        if abs(total - 1.0) > 1e-6 or any(share < 0 for share in self.split_fractions.values()):
            raise ValueError(f"split_fractions must be non-negative and sum to 1, got {self.split_fractions}")
        return self

    def resolved_label_scheme(self) -> LabelScheme:
        if isinstance(self.label_scheme, LabelScheme):
            return self.label_scheme
        return get_label_scheme(self.label_scheme)


class TeacherRunConfig(StrictModel):
    """The teacher in the local run: which profile trains it, or an existing model that replaces training."""

    profile: str | None = Field(
        default=None, description="Teacher profile: smoke, demo, or a TeacherConfig YAML; None = the run's profile.")
    model_uri: str = Field(default="", description="A published teacher model (s3:// or directory); skips CPT, SFT, reward model and DPO.")
    eval_pairs: int = Field(default=0, ge=0, description="Gold test pairs the teacher answers (0: all, needed for retention).")


class AnnotationRunConfig(StrictModel):
    """Teacher annotation of the search-log pairs in the local run (None = the run profile's default)."""

    engine: Literal["transformers", "vllm"] = Field(
        default="transformers", description="Generation engine; vLLM pays a 25–50 s start-up per shard on CPU.")
    shards: int | None = Field(default=None, ge=1, description="Parallel shards (one kfp task each).")
    samples: int | None = Field(default=None, ge=1, description="Self-consistency samples per pair.")
    temperature: float = Field(default=0.8, gt=0, description="Sampling temperature.")
    max_new_tokens: int | None = Field(default=None, ge=8, description="Longest answer.")
    max_pairs: int | None = Field(default=None, ge=0, description="Annotate the first N log pairs (0: all).")


class RunConfig(StrictModel):
    """The main job: every stage of the local run, one section per stage."""

    profile: Literal["smoke", "demo"] = Field(
        default="demo", description="'smoke' is tiny and fast (tests, CI); 'demo' is the default local run."
    )
    storage: StorageConfig = Field(default_factory=StorageConfig, description="Artifact storage.")
    data: DataGenerationConfig = Field(default_factory=DataGenerationConfig, description="Built-in data sizes.")
    prepare: PrepareDataConfig = Field(default_factory=PrepareDataConfig, description="Validation and splits.")
    gate: GateConfig = Field(
        # Retention is reported, not gated: the small CPU teacher of the local run is weaker than the student.
        default_factory=lambda: GateConfig(min_macro_f1=0.4, min_retention=None),
        description="Release gate of the local run ('smoke' lowers min_macro_f1 to 0: it proves wiring, not quality).",
    )
    canary_traffic_percent: int = Field(default=10, ge=1, le=99, description="Canary share of users in the A/B run.")
    teacher: TeacherRunConfig = Field(default_factory=TeacherRunConfig, description="Teacher training or reuse.")
    annotation: AnnotationRunConfig = Field(default_factory=AnnotationRunConfig, description="Teacher annotation of log pairs.")


def _allowed_values(model: type[StrictModel], location: tuple[Any, ...]) -> list[str] | None:
    """Field names allowed at ``location`` (for unknown-key errors), walking nested config models."""
    current: Any = model
    for part in location[:-1]:
        if not (isinstance(current, type) and issubclass(current, StrictModel)) or part not in current.model_fields:
            return None
        annotation = current.model_fields[part].annotation
        nested = [arg for arg in (get_args(annotation) or (annotation,)) if isinstance(arg, type)]
        current = next((arg for arg in nested if issubclass(arg, StrictModel)), None)
    if isinstance(current, type) and issubclass(current, StrictModel):
        return sorted(current.model_fields)
    return None


def format_validation_error(error: ValidationError, model: type[StrictModel], source: str = "") -> str:
    lines = [f"invalid {model.__name__}{f' in {source}' if source else ''}:"]
    for item in error.errors():
        path = ".".join(str(part) for part in item["loc"]) or "<root>"
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            allowed = _allowed_values(model, item["loc"])
            message = f"unknown key; allowed keys: {allowed}" if allowed else "unknown key"
        elif item["type"] == "literal_error":
            message = f"{message}, got {item['input']!r}"
        lines.append(f"  {path}: {message}")
    return "\n".join(lines)


def parse_config(model: type[ConfigT], data: dict[str, Any] | None, source: str = "") -> ConfigT:
    try:
        return model.model_validate(data or {})
    except ValidationError as error:
        raise ConfigError(format_validation_error(error, model, source)) from None


def load_config(model: type[ConfigT], path: str | Path, overrides: dict[str, Any] | None = None) -> ConfigT:
    """Load a YAML file into ``model``; ``overrides`` (nested dict) win over the file."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {str(path)!r} does not exist") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"config file {str(path)!r} is not valid YAML: {error}") from None
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"config file {str(path)!r} must hold a mapping at the top, got {type(data).__name__}")
    return parse_config(model, _deep_merge(data or {}, overrides or {}), source=str(path))


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


StudentMethod = Literal["crsd", "vanilla", "logit_kd", "crsd_no_kl", "crsd_no_contrastive"]
STUDENT_METHODS: tuple[str, ...] = get_args(StudentMethod)


class StudentTrainConfig(StrictModel):
    """The student trainer (CRSD and the baselines it must beat, on identical data, steps and seeds)."""

    method: StudentMethod = Field(
        default="crsd",
        description="crsd (full loss); vanilla (CE, standard view); logit_kd (KL to teacher vote shares); "
        "crsd_no_kl (λ = 0); crsd_no_contrastive (γ = 0).",
    )
    init: str = Field(
        default="minilm",
        description="'minilm' (packaged all-MiniLM-L6-v2), 'tiny' (random 2-layer BERT, smoke tests), "
        "a Hugging Face directory, or an s3:// prefix published with a manifest.",
    )
    extend_vocabulary: bool = Field(
        default=True, description="Add training-text CJK characters that the tokenizer maps to [UNK]."
    )
    reset_pooler: bool = Field(
        default=True, description="Start a pretrained init's pooler as identity (MiniLM's pooler is untrained)."
    )
    max_length: int = Field(default=128, ge=48, le=512, description="Token budget of the standard view.")
    reasoning_max_length: int = Field(
        default=256, ge=48, le=512, description="Token budget of the reasoning view (service kept as in the standard view)."
    )
    targets: Literal["hard", "soft"] = Field(
        default="hard", description="'hard': teacher label; 'soft': teacher vote shares (self-consistency votes)."
    )
    alpha: float = Field(default=1.0, ge=0, description="Weight of CE on the reasoning view.")
    lambda_kl: float = Field(default=1.0, ge=0, description="Weight of KL(sg(p_r) ‖ p), reasoning view teaching the standard one.")
    gamma: float = Field(default=0.5, ge=0, description="Weight of InfoNCE between projected views (DESIGN: 0.1–1).")
    temperature: float = Field(default=0.07, gt=0, description="InfoNCE temperature τ (DESIGN: 0.05–0.1).")
    exclude_same_label_negatives: bool = Field(
        default=False, description="Drop in-batch negatives that share the anchor's label from InfoNCE."
    )
    projection_dim: int = Field(default=128, ge=8, description="Output size of the projection head g.")
    batch_size: int = Field(default=32, ge=2, description="Pairs per optimisation step (before accumulation).")
    gradient_accumulation_steps: int = Field(default=1, ge=1, description="Micro-batches per optimizer step.")
    epochs: float = Field(default=2.0, gt=0, description="Passes over the training set (ignored when max_steps is set).")
    max_steps: int | None = Field(default=None, ge=1, description="Optimizer steps; overrides epochs.")
    learning_rate: float = Field(
        default=1e-4, gt=0, description="Peak AdamW learning rate; 6-layer MiniLM tolerates the top of the BERT range."
    )
    weight_decay: float = Field(default=0.01, ge=0, description="AdamW weight decay (not on biases/LayerNorm).")
    warmup_ratio: float = Field(default=0.1, ge=0, lt=1, description="Share of steps with linear warm-up, then linear decay.")
    max_grad_norm: float = Field(default=1.0, gt=0, description="Gradient clipping norm.")
    eval_every_steps: int = Field(default=50, ge=1, description="Dev evaluation (and checkpoint) interval.")
    early_stopping_patience: int = Field(
        default=0, ge=0, description="Stop after this many evaluations without dev macro-F1 gain; 0 disables."
    )
    seed: int = Field(default=13, description="Seed of initialisation, data order and dropout.")
    device: Literal["auto", "cpu", "cuda"] = Field(default="auto", description="'auto' uses CUDA when available.")
    amp: bool = Field(default=True, description="bf16 autocast on CUDA (ignored on CPU).")
    num_threads: int | None = Field(default=None, ge=1, description="torch CPU threads; None keeps torch's default.")
    resume: bool = Field(default=True, description="Continue from OUTPUT/checkpoint-last when it exists.")

    @model_validator(mode="after")
    def _lengths(self) -> StudentTrainConfig:
        if self.reasoning_max_length < self.max_length:
            raise ValueError(f"reasoning_max_length {self.reasoning_max_length} must be >= max_length {self.max_length}")
        return self

    def loss_weights(self) -> dict[str, float]:
        """α, λ, γ as the method uses them (ablations zero one term; baselines use none)."""
        if self.method == "crsd_no_kl":
            return {"alpha": self.alpha, "lambda_kl": 0.0, "gamma": self.gamma}
        if self.method == "crsd_no_contrastive":
            return {"alpha": self.alpha, "lambda_kl": self.lambda_kl, "gamma": 0.0}
        return {"alpha": self.alpha, "lambda_kl": self.lambda_kl, "gamma": self.gamma}

    @property
    def uses_reasoning_view(self) -> bool:
        return self.method.startswith("crsd")


# Profile overrides on top of StudentTrainConfig's defaults (which are the production settings).
STUDENT_PROFILES: dict[str, dict[str, Any]] = {
    # Seconds on 2 CPU cores: a random 2-layer BERT; proves the wiring, not the quality.
    "smoke": {"init": "tiny", "max_length": 64, "reasoning_max_length": 128, "batch_size": 16, "max_steps": 12,
              "eval_every_steps": 6, "learning_rate": 1e-3, "projection_dim": 32},
    # Minutes on 2 CPU cores: the real MiniLM student, short sequences and a fixed step budget.
    # 100 steps: lr 2e-4 gave vanilla dev macro-F1 0.41 on the built-in gold data, 4e-4 0.34; 1e-4 reached only
    # 0.24 in a full demo run (gold + teacher-labelled pairs).
    "demo": {"init": "minilm", "max_length": 96, "reasoning_max_length": 192, "batch_size": 32, "max_steps": 100,
             "learning_rate": 2e-4, "eval_every_steps": 50},
}


def student_config_for(profile: str, **overrides: Any) -> StudentTrainConfig:
    if profile not in STUDENT_PROFILES:
        raise ConfigError(f"unknown student profile {profile!r}; allowed: {sorted(STUDENT_PROFILES)}")
    return parse_config(StudentTrainConfig, {**STUDENT_PROFILES[profile], **overrides}, source=f"profile {profile}")


class KubernetesConfig(StrictModel):
    """Cluster settings baked into the compiled pipelines (never secret values: only Secret names)."""

    s3_secret_name: str = Field(
        default="relevance-distill-s3",
        description="Secret with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, mounted as env by reference.",
    )
    s3_endpoint_url: str = Field(default="", description="AWS_ENDPOINT_URL for MinIO/SeaweedFS; empty for AWS S3.")
    gpu_components: list[str] = Field(
        default_factory=lambda: ["teacher_cpt", "teacher_sft", "reward_model", "teacher_preference", "annotate_shard",
                                 "train_student"],
        description="Components that request GPUs (trainer/annotator images with CUDA builds)."
    )
    gpu_count: int = Field(default=0, ge=0, description="GPUs per GPU component; 0 compiles a CPU-only pipeline.")
    gpu_resource: str = Field(default="nvidia.com/gpu", description="Extended resource name of the accelerator.")
    node_selector: dict[str, str] = Field(default_factory=dict, description="Node labels for GPU components.")
    tolerations: list[dict[str, str]] = Field(
        default_factory=list, description="Tolerations for GPU components, e.g. {key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}."
    )
    annotation_shards: int = Field(
        default=4, ge=1, description="Parallel annotate_shard tasks (the ParallelFor fan-out, fixed at compile time).")
    annotation_parallelism: int = Field(
        default=0, ge=0, description="Shards running at once (ParallelFor parallelism); 0 = all of them.")
    cpu_limit: str = Field(default="2", description="CPU limit of every component.")
    memory_limit: str = Field(default="8G", description="Memory limit of every component.")
