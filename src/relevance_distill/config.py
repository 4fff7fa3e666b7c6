"""The run's configs and YAML loading with errors a user can act on.

Where a config lives (one rule): this module imports nothing of the package but ``schemas``. It holds the loading
helpers, the run's config and every config the run's config embeds (built-in data, inputs, prepare, the annotation
engine, the gate, students, evaluation, the cluster). A config that no run config embeds lives with its stage (teacher
steps, rationales, reward model, export, rollout, A/B analysis) and imports the helpers from here.

Every field is documented once, in ``Field(description=...)``; the README's config reference and the CLI
help are generated from these descriptions, never written twice.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, TypeVar, get_args

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from relevance_distill.schemas import (
    BUILTIN_LABEL_SCHEMES,
    LabelScheme,
    StrictModel,
    get_label_scheme,
)

ConfigT = TypeVar("ConfigT", bound=StrictModel)

DataFormat = Literal["jsonl", "crowdflower", "esci", "qbqtc"]
# The label scheme each input format uses unless one is named (one home: here; the adapters read it).
DEFAULT_SCHEME_FOR_FORMAT = {"jsonl": "local_services", "crowdflower": "crowdflower", "esci": "esci", "qbqtc": "qbqtc"}
SplitStrategy = Literal["query", "random"]


# The profile every stage uses unless told otherwise (run, student and teacher profiles share names).
DEFAULT_PROFILE = "demo"


class ConfigError(ValueError):
    """A config file or value is wrong; the message names each bad field's path and the allowed values."""


def field_default(model: type[StrictModel], field: str) -> Any:
    """The default of ``model.field``: what components and pipelines use instead of restating it."""
    if field not in model.model_fields:
        raise ConfigError(f"{model.__name__} has no field {field!r}; allowed: {sorted(model.model_fields)}")
    return model.model_fields[field].get_default(call_default_factory=True)


def label_scheme_named(name: str | None) -> LabelScheme:
    """A built-in label scheme by name; None is the default scheme of prepared data."""
    return get_label_scheme(name or field_default(PrepareDataConfig, "label_scheme"))


def config_from_arguments(model: type[ConfigT], **arguments: Any) -> ConfigT:
    """A config from a component's arguments: ``None`` means "the config's default", so defaults live only in
    the config model (component parameters default to ``None``)."""
    return parse_config(model, {name: value for name, value in arguments.items() if value is not None},
                        source="component arguments")


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
    max_model_len: int = Field(default=2048, ge=256, description="Longest prompt + answer in tokens (vLLM KV-cache sizing).")
    cpu_kvcache_space_gib: int = Field(
        default=2, ge=1, description="KV-cache memory for vLLM's CPU backend (VLLM_CPU_KVCACHE_SPACE) when no GPU is visible.")
    cpu_threads_bind: str = Field(
        default="all", description="Cores vLLM's CPU backend binds its OpenMP threads to ('all' = every core, or e.g. '0-7').")
    seed: int = Field(default=0, description="Sampling seed.")

    @model_validator(mode="after")
    def _greedy_means_one_sample(self) -> EngineConfig:
        if self.temperature == 0 and self.samples > 1:
            raise ValueError(f"greedy decoding (temperature 0) gives identical samples; set samples=1, got {self.samples}")
        return self


# A graded scheme has at least this many labels: below it the ordinal decoder's single cut-point is just argmax on
# two labels, so 'auto' decoding means argmax there.
ORDINAL_DECODING_MIN_LABELS = 3


def concrete_decoding(decoding: str, num_labels: int) -> str:
    """DECODING ('auto', 'argmax' or 'ordinal') made concrete for a scheme of NUM_LABELS labels: 'auto' is 'ordinal'
    for a graded scheme (ORDINAL_DECODING_MIN_LABELS or more), else 'argmax'. The gate and the trainer's checkpoint
    selection read this one rule."""
    if decoding not in ("auto", "argmax", "ordinal"):
        raise ValueError(f"unknown decoding {decoding!r}; allowed: ['auto', 'argmax', 'ordinal']")
    if decoding != "auto":
        return decoding
    return "ordinal" if num_labels >= ORDINAL_DECODING_MIN_LABELS else "argmax"


class GateConfig(StrictModel):
    """Thresholds of the release gate."""

    min_macro_f1: float = Field(default=0.5, ge=0, le=1, description="Lowest acceptable test macro-F1.")
    min_retention: float = Field(
        default=0.8, ge=0, description="Lowest student macro-F1 ÷ teacher macro-F1 on the same test set; 0 skips the check."
    )
    max_regression: float = Field(
        default=0.01, ge=0, description="Largest allowed drop of each compared metric against production (absolute)."
    )
    compared_metrics: list[str] = Field(
        default_factory=lambda: ["macro_f1", "qwk"],
        description="Metrics compared with the production model (keys of metrics.json 'test').",
    )
    decoding: Literal["auto", "argmax", "ordinal"] = Field(
        default="auto", description="The decoder the gate checks and the published model serves: 'argmax' (most "
        "probable label), 'ordinal' (expected grade with cut-points tuned on dev for QWK), or 'auto': ordinal for a "
        "graded scheme (three labels or more, where the trainer tuned cut-points), else argmax.")
    max_p99_latency_ms: float | None = Field(
        default=None, gt=0, description="Highest acceptable p99 latency for one query × 50 services; None skips."
    )
    max_loss_to_gold_only: float | None = Field(
        default=0.0, ge=0, description="Largest dev macro-F1 (the gate's decoding) by which the distilled student may "
        "trail the gold-only student trained in the same run: a teacher that does not help must not ship. None skips "
        "the comparison.")
    when_worse_than_gold_only: Literal["publish_gold_only", "fail"] = Field(
        default="publish_gold_only", description="What a run does when the distilled student trails the gold-only "
        "one by more than max_loss_to_gold_only: publish the gold-only student instead (after the same checks), or "
        "fail the gate.")


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


class InputDataConfig(StrictModel):
    """The main job's data. Without labelled pairs it runs on the built-in generated data (with its logs and
    corpus); the format and label scheme of the files are ``prepare.input_format`` and ``prepare.label_scheme``."""

    labeled_uri: str = Field(default="", description="Labelled pairs (local path or s3://); '' = the built-in data.")
    products_uri: str = Field(default="", description="Product texts for the 'esci' format (ESCI examples carry none).")
    unlabeled_uri: str = Field(
        default="", description="Search-log pairs (our JSONL schema) for the teacher to annotate; '' = the teacher "
        "annotates the training pairs.")
    corpus_uri: str = Field(
        default="", description="Platform text for continued pre-training (JSONL {\"text\": …}); '' = the text of the pairs.")
    test_uri: str = Field(
        default="", description="A fixed test set in the labelled file's format, used only for the final evaluation; "
        "'' = a split of the labelled file.")

    @model_validator(mode="after")
    def _labelled_data_first(self) -> InputDataConfig:
        extras = {name: value for name, value in self.model_dump().items() if value and name != "labeled_uri"}
        if extras and not self.labeled_uri:
            raise ValueError(f"{sorted(extras)} need labelled pairs too (labeled_uri / --labeled): the built-in data "
                             "brings its own logs, corpus and test split")
        return self

    @property
    def builtin(self) -> bool:
        return not self.labeled_uri


class TeacherRunConfig(StrictModel):
    """The teacher in the local run: which profile trains it, or an existing model that replaces training."""

    profile: str | None = Field(
        default=None, description="Teacher profile (a name from teacher/profiles.py; an unknown name is refused with the list) or a TeacherConfig YAML; None = the run's profile.")
    model_uri: str = Field(default="", description="A published teacher model (s3:// or directory); skips CPT, SFT, reward model and DPO.")
    eval_pairs: int = Field(default=0, ge=0, description="Gold test pairs the teacher answers (0: all, needed for retention).")
    min_gain_over_majority: float | None = Field(
        default=0.02, ge=0, le=1, description="Dev macro-F1 by which a teacher trained in the run on a CPU must beat "
        "the majority class; otherwise annotation and distillation are skipped and the gold-only student is trained "
        "alone (a given model_uri or a teacher trained on a GPU is always used). None never skips.")


class AnnotationRunConfig(EngineConfig):
    """Teacher annotation of the search-log pairs in the local run: the engine's settings plus the fan-out."""

    shards: int = Field(default=2, ge=1, description="Parallel shards (one kfp task each).")
    max_pairs: int = Field(default=0, ge=0, description="Annotate the first N log pairs (0: all).")


# How the student's added vocabulary rows start (StudentTrainConfig.added_token_init, student.model.extend_vocabulary).
AddedTokenInit = Literal["mean", "sampled"]
StudentMethod = Literal["crsd", "vanilla", "gold_only", "gold_augmented", "vote_kd", "logit_kd", "crsd_no_kl", "crsd_no_contrastive",
                        "crsd_no_verdict", "crsd_chain_view", "vanilla_compute_matched"]
STUDENT_METHODS: tuple[str, ...] = get_args(StudentMethod)
# The method a run gates, exports and canaries when it trained it: CRSD whose reasoning view is the query and the
# teacher's chain without its verdict sentence (no item text), so that the view does not hand the student the answer
# and a step costs less than 'crsd_no_verdict' or 'crsd' (the paper's recipe, kept for comparisons). Chosen over
# 'crsd_no_verdict' by a rule fixed before the comparison and applied to dev figures only; how it compares with its
# baselines: docs/evidence.md.
PRIMARY_STUDENT_METHOD = "crsd_chain_view"
# What a student training run trains unless told otherwise: CRSD, the student without a teacher, and the two
# teacher baselines it must beat (hard labels, the teacher's label distribution).
DEFAULT_STUDENT_METHODS: tuple[str, ...] = (PRIMARY_STUDENT_METHOD, "gold_only", "vanilla", "logit_kd")
# The method that measures what the teacher adds: trained on the gold labels alone (summary, retention).
GOLD_ONLY_METHOD = "gold_only"
# The gold-only student given the extra labelled pairs a teacher's SFT saw (e.g. a dataset plugin's counterfactuals):
# the control that separates what distillation adds from what those extra labels add.
GOLD_AUGMENTED_METHOD = "gold_augmented"
# Methods whose step budget is CRSD's training time at vanilla's step cost, so they train after both.
COMPUTE_MATCHED_METHODS = {"vanilla_compute_matched": ("crsd", "vanilla")}


def parse_methods(text: str | None) -> list[str]:
    """Student methods from a comma-separated list (None or empty: the default methods); unknown names are errors."""
    methods = [method.strip() for method in (text or "").split(",") if method.strip()] or list(DEFAULT_STUDENT_METHODS)
    unknown = [method for method in methods if method not in STUDENT_METHODS]
    if unknown:
        raise ConfigError(f"unknown student method(s) {unknown}; allowed: {list(STUDENT_METHODS)}")
    return methods


class EvaluationConfig(StrictModel):
    """Evaluation of trained students on the gold test set."""

    latency_requests: int = Field(
        default=30, ge=0, description="Timed requests of one query × 50 services per model for CPU latency (0: skip).")


class RunSettings(StrictModel):
    """The settings a run profile fixes, stage by stage (``RUN_PROFILES``)."""

    data: DataGenerationConfig = Field(description="Built-in data sizes.")
    gate: GateConfig = Field(description="Release gate of the local run.")
    annotation: AnnotationRunConfig = Field(description="Teacher annotation of the search-log pairs.")
    student_methods: list[StudentMethod] = Field(
        min_length=1, description=f"Student methods trained on identical batches; {PRIMARY_STUDENT_METHOD!r} (or, "
        "when it is not among them, the first) is gated, exported and the A/B canary; ab_stable_method is the A/B "
        "stable model.")
    evaluation: EvaluationConfig = Field(description="Evaluation of the trained students.")
    ab_users: int = Field(ge=100, description="Simulated users in the local A/B replay.")
    student_profile: str = Field(description="Student profile (STUDENT_PROFILES) on the built-in data.")
    own_data_student_profile: str = Field(
        description="Student profile on your labelled data (--labeled): its budget must fit data of any size, so it "
        "trains until dev stops improving rather than for the built-in data's fixed steps.")


class RunProfile(RunSettings, frozen=True):
    """One entry of the run profile table (immutable)."""

    description: str = Field(description="What the profile is for and how long it takes here.")


class RunConfig(RunSettings):
    """The main job: every stage of the local run, one section per stage. Sections left out come from the profile."""

    profile: Literal["smoke", "demo"] = Field(
        default=DEFAULT_PROFILE, description="'smoke' is tiny and fast (tests, CI); 'demo' is the default local run."
    )
    storage: StorageConfig = Field(default_factory=StorageConfig, description="Artifact storage.")
    inputs: InputDataConfig = Field(default_factory=InputDataConfig, description="The user's data files (none: built-in data).")
    prepare: PrepareDataConfig = Field(default_factory=PrepareDataConfig, description="Validation and splits.")
    canary_traffic_percent: int = Field(default=10, ge=1, le=99, description="Canary share of users in the A/B run.")
    teacher: TeacherRunConfig = Field(default_factory=TeacherRunConfig, description="Teacher training or reuse.")
    runner: Literal["subprocess", "docker"] = Field(
        default="subprocess", description="kfp.local runner: 'subprocess' runs every component in this Python "
        "environment; 'docker' runs each in the image the compiled pipeline names (build them with `make images`).")
    student: dict[str, Any] = Field(
        default_factory=dict, description="StudentTrainConfig fields that override the run profile's student profile "
        "(e.g. max_steps, learning_rate, eval_every_steps).")
    ab_stable_method: StudentMethod = Field(
        default="vanilla", description="Student method exported as the 'stable' model of the local A/B replay (the "
        "exported primary method is the canary); must be one of student_methods.")

    def active_student_profile(self) -> str:
        """The student profile this run trains with: the built-in data's or your data's."""
        return self.student_profile if self.inputs.builtin else self.own_data_student_profile

    @model_validator(mode="after")
    def _student_overrides_are_valid(self) -> RunConfig:
        try:
            config = student_config_for(self.active_student_profile(), **self.student)
        except ConfigError as error:
            raise ValueError(f"student: {error}") from None
        init = config.init
        if init not in {"minilm", "tiny"} and "://" not in init:
            if not (Path(init) / "config.json").is_file():
                raise ValueError(f"student.init {init!r} is not a Hugging Face directory (no config.json there); "
                                 "pass a directory saved with save_pretrained or an s3:// prefix holding one")
            if self.runner == "docker":
                raise ValueError(f"student.init {init!r} is a local directory, which the docker runner's containers "
                                 "cannot see: copy it to S3 and pass the s3:// prefix")
        return self

    @model_validator(mode="after")
    def _stable_method_is_trained(self) -> RunConfig:
        if self.ab_stable_method not in self.student_methods:
            raise ValueError(f"ab_stable_method {self.ab_stable_method!r} is not trained; student_methods: {self.student_methods}")
        return self

    @model_validator(mode="before")
    @classmethod
    def _profile_settings(cls, data: Any) -> Any:
        """Start from the profile's settings; what the file or the flags say wins, key by key."""
        if not isinstance(data, dict):
            return data
        profile = data.get("profile", DEFAULT_PROFILE)
        prepare = data.get("prepare")
        if isinstance(prepare, dict) and prepare.get("input_format") and "label_scheme" not in prepare:
            # A public format brings its own label scheme unless one is named.
            data = _deep_merge(data, {"prepare": {"label_scheme": DEFAULT_SCHEME_FOR_FORMAT.get(prepare["input_format"],
                                                                                                 "local_services")}})
        if profile not in RUN_PROFILES:
            return data  # the Literal check names the allowed profiles
        settings = RUN_PROFILES[profile].model_dump(exclude={"description"})
        return _deep_merge(settings, data)

    def teacher_profile(self) -> str:
        return self.teacher.profile or self.profile


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


class StudentTrainConfig(StrictModel):
    """The student trainer (CRSD and the baselines it must beat, on identical data, steps and seeds)."""

    method: StudentMethod = Field(
        default=PRIMARY_STUDENT_METHOD,
        description="crsd (full loss); vanilla (CE on gold + teacher labels, standard view); gold_only (vanilla on "
        "the gold pairs alone, no teacher); gold_augmented (gold_only on the gold pairs plus the extra gold-labelled pairs "
        "given to the trainer, e.g. those the teacher's SFT saw beyond the gold pairs: the control for extra data); vote_kd (soft CE to the teacher's self-consistency vote shares); logit_kd "
        "(KL to the teacher's label distribution read from its label-token probabilities, Annotation.label_probs); "
        "crsd_no_kl (λ = 0); crsd_no_contrastive (γ = 0); crsd_no_verdict (reasoning view without the chain's final "
        "verdict sentence); crsd_chain_view (crsd_no_verdict whose reasoning view is the query and the chain without the "
        "service text, a shorter view); vanilla_compute_matched (vanilla for as many steps as CRSD's training time buys). On "
        "gold pairs every KD method's target is the gold label.",
    )
    init: str = Field(
        default="minilm",
        description="'minilm' (packaged all-MiniLM-L6-v2), 'tiny' (random 2-layer BERT, smoke tests), "
        "a Hugging Face directory, or an s3:// prefix published with a manifest.",
    )
    extend_vocabulary: bool = Field(
        default=True, description="Add training-text CJK characters that the tokenizer maps to [UNK]."
    )
    added_token_init: AddedTokenInit = Field(
        default="sampled", description="How the embedding rows of added characters start: 'sampled' (drawn from a "
        "normal with the existing rows' mean and covariance: distinct, at the pretrained rows' scale; chosen on QBQTC's "
        "dev, benchmarks/added_token_init.py) or 'mean' (each the mean of the existing rows, so every added character "
        "looks the same until training tells them apart).")
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
    group_by_length: bool = Field(
        default=True, description="Batch pairs of similar length (sorted within windows of batches of the shuffled epoch, "
        "student.train.LENGTH_GROUP_WINDOW_BATCHES; the batches then shuffled), so that a batch pads to its own "
        "length; false: a plain shuffle.")
    epochs: float = Field(
        default=4.0, gt=0, description="Most passes over the training set (ignored when max_steps is set); early "
        "stopping usually ends training sooner. The learning rate decays linearly over this budget.")
    max_steps: int | None = Field(default=None, ge=1, description="Optimizer steps; overrides epochs.")
    learning_rate: float = Field(
        default=1e-4, gt=0, description="Peak AdamW learning rate; 6-layer MiniLM tolerates the top of the BERT range."
    )
    weight_decay: float = Field(default=0.01, ge=0, description="AdamW weight decay (not on biases/LayerNorm).")
    fused_adamw: bool = Field(
        default=True, description="AdamW's fused kernel: the same update as torch's default multi-tensor one (equal up "
        "to float rounding) in one pass over the parameters, 5x faster for MiniLM's 22.9M on 2 CPU cores "
        "(benchmarks/adamw_step.py); false: the multi-tensor kernel.")
    warmup_ratio: float = Field(default=0.1, ge=0, lt=1, description="Share of steps with linear warm-up, then linear decay.")
    max_grad_norm: float = Field(default=1.0, gt=0, description="Gradient clipping norm.")
    eval_every_steps: int = Field(default=100, ge=1, description="Dev evaluation (and checkpoint) interval.")
    early_stopping_patience: int = Field(
        default=3, ge=0, description="Stop after this many dev evaluations without a gain of the selection metric (the "
        "best checkpoint is kept); 0 trains the whole budget.")
    selection_decoding: Literal["auto", "argmax", "ordinal"] = Field(
        default="auto", description="The decoder whose dev macro-F1 picks the best checkpoint and drives early "
        "stopping, so that the kept checkpoint is the best under the decoding the gate checks and the model serves "
        "(the pipelines pass the gate's decoding): 'argmax', 'ordinal' (cut-points tuned on dev at each evaluation), "
        "or 'auto', resolved as GateConfig.decoding's 'auto' (concrete_decoding).")
    seed: int = Field(default=13, description="Seed of initialisation, data order and dropout.")
    device: Literal["auto", "cpu", "cuda"] = Field(default="auto", description="'auto' uses CUDA when available.")
    amp: bool = Field(
        default=True, description="bf16 autocast where the hardware runs bf16 natively: CUDA, and CPUs with AVX512-BF16 or "
        "AMX (student steps 2.1x faster on a 2-core EPYC, benchmarks/crsd_step_cost.py); weights and evaluation stay fp32.")
    num_threads: int | None = Field(default=None, ge=1, description="torch CPU threads; None: the container's CPU limit (cgroup), at most the CPUs this process may run on.")
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

    @property
    def cuts_verdict(self) -> bool:
        """The reasoning view drops the chain's final verdict sentence (it would hand the student the answer)."""
        return self.method in ("crsd_no_verdict", "crsd_chain_view")

    @property
    def reasoning_view_has_service(self) -> bool:
        """The reasoning view repeats the service text before the chain (all CRSD methods but crsd_chain_view)."""
        return self.method != "crsd_chain_view"

    @property
    def uses_teacher(self) -> bool:
        """False for the gold-only students: they never see a teacher label, chain or distribution."""
        return self.method not in (GOLD_ONLY_METHOD, GOLD_AUGMENTED_METHOD)


class StudentProfile(StudentTrainConfig, frozen=True):
    """One entry of the student profile table: only the fields it sets differ from StudentTrainConfig's defaults
    (which are the production settings)."""


STUDENT_PROFILES: dict[str, StudentProfile] = {
    # Seconds on 2 CPU cores: a random 2-layer BERT; proves the wiring, not the quality.
    "smoke": StudentProfile(init="tiny", max_length=64, reasoning_max_length=128, batch_size=16, max_steps=12,
                            eval_every_steps=6, learning_rate=1e-3, projection_dim=32, early_stopping_patience=0),
    # Minutes on 2 CPU cores: the real MiniLM student, short sequences and a fixed step budget for the built-in
    # data. The learning rate was chosen on dev (a higher one overshoots, a lower one does not learn in 100 steps).
    "demo": StudentProfile(init="minilm", max_length=96, reasoning_max_length=192, batch_size=32, max_steps=100,
                           learning_rate=2e-4, eval_every_steps=50, early_stopping_patience=0),
    # Your data: StudentTrainConfig's own defaults, trained until dev macro-F1 stops improving.
    "full": StudentProfile(),
}


def cluster_config(profile_or_path: str | None = None) -> KubernetesConfig:
    """A cluster profile by name (CLUSTER_PROFILES; None: 'cpu') or a KubernetesConfig YAML file."""
    name = profile_or_path or "cpu"
    if name in CLUSTER_PROFILES:
        return parse_config(KubernetesConfig, CLUSTER_PROFILES[name], source=f"cluster profile {name}")
    if Path(name).suffix in {".yaml", ".yml"}:
        return load_config(KubernetesConfig, name)
    raise ConfigError(f"unknown cluster profile {name!r}; allowed: {sorted(CLUSTER_PROFILES)} or a KubernetesConfig "
                      ".yaml file")


def student_config_for(profile: str | None = None, **overrides: Any) -> StudentTrainConfig:
    """A profile's student config (default profile when None) with ``overrides`` on top."""
    profile = profile or DEFAULT_PROFILE
    if profile not in STUDENT_PROFILES:
        raise ConfigError(f"unknown student profile {profile!r}; allowed: {sorted(STUDENT_PROFILES)}")
    settings = STUDENT_PROFILES[profile].model_dump(exclude_unset=True)
    return parse_config(StudentTrainConfig, {**settings, **overrides}, source=f"student profile {profile}")


class StepResources(StrictModel):
    """What one pipeline step asks the cluster for (GPUs: ``KubernetesConfig.gpu_count`` / ``gpu_components``)."""

    cpu_request: str = Field(default="1", description="CPU request (Kubernetes quantity, e.g. '500m', '8').")
    cpu_limit: str = Field(default="2", description="CPU limit.")
    memory_request: str = Field(default="2Gi", description="Memory request (e.g. '64Gi').")
    memory_limit: str = Field(default="8G", description="Memory limit.")
    shm_size: str = Field(
        default="", description="Size of a memory-backed /dev/shm (NCCL, vLLM and data-loader workers need more than "
        "the container runtime's 64 MiB); counts against the memory limit. Empty: the runtime's default.")
    scratch_size: str = Field(
        default="", description="Size of a generic ephemeral volume mounted at /scratch for this step alone: model "
        "weights fetched from S3, Hugging Face caches and temporary files go there instead of the container's "
        "writable layer. Empty: none.")
    scratch_storage_class: str | None = Field(
        default=None, description="StorageClass of the /scratch volume; None uses the cluster's default class.")


# Where a step's /scratch volume is mounted, and what the step points at it (set at compile time).
SCRATCH_MOUNT = "/scratch"
SCRATCH_ENVIRONMENT = {"HF_HOME": f"{SCRATCH_MOUNT}/huggingface", "TMPDIR": f"{SCRATCH_MOUNT}/tmp",
                       "VLLM_CACHE_ROOT": f"{SCRATCH_MOUNT}/vllm", "TRITON_CACHE_DIR": f"{SCRATCH_MOUNT}/triton"}

# What each step gets unless the cluster config says otherwise: the local and CPU-cluster defaults (small models).
# Steps that only move records or decide (gate, deploy) need a fraction of a training step's.
_LIGHT = StepResources(cpu_request="250m", cpu_limit="1", memory_request="512Mi", memory_limit="2Gi")
DEFAULT_STEP_RESOURCES: dict[str, StepResources] = {
    "use_existing_model": _LIGHT, "check_teacher": _LIGHT, "skip_annotation": _LIGHT, "gate": _LIGHT, "deploy_canary": _LIGHT, "promote_or_rollback": _LIGHT,
    "merge_annotations": StepResources(cpu_request="500m", cpu_limit="1", memory_request="1Gi", memory_limit="4Gi"),
    "analyze_ab": StepResources(cpu_request="500m", cpu_limit="1", memory_request="1Gi", memory_limit="4Gi"),
    "prepare_data": StepResources(cpu_request="1", cpu_limit="2", memory_request="2Gi", memory_limit="4Gi"),
}

# A 7B teacher in bf16 is about 15 GB of weights: they are fetched once into /scratch and memory-mapped, so host memory
# holds them about once (plus DPO's reference model and the tokenised data); the GPU holds the working copy.
_SEVEN_B = StepResources(cpu_request="8", cpu_limit="16", memory_request="64Gi", memory_limit="96Gi", shm_size="16Gi",
                         scratch_size="200Gi")
CLUSTER_PROFILES: dict[str, dict[str, Any]] = {
    # The CPU pipeline: what `relevance-distill compile` writes by default (pipelines/compiled/*.yaml).
    "cpu": {},
    # GPU nodes and a 7B-class teacher (teacher/configs/production-qwen2.5-7b.yaml): one GPU per step; raise gpu_count
    # for more (the annotator's tensor parallelism and the teacher's workers follow it).
    "production": {
        "gpu_count": 1,
        "image_variant": "cuda",
        "resources": {
            "teacher_cpt": _SEVEN_B, "teacher_sft": _SEVEN_B, "teacher_preference": _SEVEN_B,
            "annotate_shard": _SEVEN_B,
            # The reward model's backbone is a BERT-style encoder (~0.3B).
            "reward_model": StepResources(cpu_request="4", cpu_limit="8", memory_request="16Gi", memory_limit="32Gi",
                                          shm_size="4Gi", scratch_size="50Gi"),
            "train_student": StepResources(cpu_request="4", cpu_limit="8", memory_request="16Gi", memory_limit="32Gi",
                                           shm_size="4Gi", scratch_size="20Gi"),
            "evaluate_student": StepResources(cpu_request="4", cpu_limit="8", memory_request="8Gi", memory_limit="16Gi"),
            "export_student": StepResources(cpu_request="4", cpu_limit="8", memory_request="8Gi", memory_limit="16Gi",
                                            scratch_size="20Gi"),
        },
    },
}


class TrainJobConfig(StrictModel):
    """A teacher step spread over several nodes: a Kubeflow Trainer TrainJob (``teacher/trainjob.py``)."""

    num_nodes: int = Field(default=2, ge=2, description="Nodes the step trains on (one node runs in the step's own pod).")
    gpus_per_node: int = Field(default=8, ge=1, description="Workers per node, one per GPU (the TrainJob's numProcPerNode).")
    runtime: str = Field(default="torch-distributed", description="ClusterTrainingRuntime the TrainJob references (the "
                         "Trainer's torch runtime, which starts torchrun on every node).")
    namespace: str = Field(default="kubeflow", description="Namespace of the TrainJob (the pipeline's namespace).")
    memory_per_node: str = Field(default="256Gi", description="Memory request and limit of each node's trainer.")
    cpu_per_node: str = Field(default="32", description="CPU request and limit of each node's trainer.")
    gpu_resource: str = Field(default="nvidia.com/gpu", description="Extended resource name of the accelerator.")
    s3_secret_name: str = Field(default="relevance-distill-s3", description="Secret with AWS_ACCESS_KEY_ID and "
                                "AWS_SECRET_ACCESS_KEY, referenced by the trainer's environment (never copied).")
    s3_endpoint_url: str = Field(default="", description="AWS_ENDPOINT_URL of the trainers; empty for AWS S3.")
    timeout_seconds: int = Field(default=7 * 24 * 3600, ge=1, description="The job's activeDeadlineSeconds, and how long "
                                 "the step waits for it.")
    poll_seconds: float = Field(default=15.0, gt=0, description="Seconds between two reads of the job's status.")


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
    image_variant: Literal["cpu", "cuda"] = Field(
        default="cpu", description="Images of the GPU components: 'cuda' runs them in the CUDA variants (`make images "
        "VARIANT=cuda`, tagged TAG-cuda: CUDA torch, vLLM); 'cpu' in the CPU images (a GPU step would then fail at "
        "once: their torch sees no GPU).")
    teacher_trainjob: TrainJobConfig | None = Field(
        default=None, description="Train the teacher's CPT, SFT, reward model and DPO on several nodes: each of those "
        "steps submits a Kubeflow Trainer TrainJob with these settings and waits for it (its own pod then needs no GPU: "
        "drop the teacher steps from gpu_components). None: each step trains in its own pod.")
    retries: int = Field(default=3, ge=0, description="Retries of a step that can fail for a moment (S3, the API "
                         "server, a preempted node: see pipelines/kubernetes.py RETRIED_STEPS), with backoff.")
    retry_backoff: str = Field(default="30s", description="First wait before a retry; each next one doubles, up to 10 minutes.")
    training_timeout_seconds: int = Field(default=3 * 24 * 3600, ge=60, description="Longest a training step may run "
                                          "(the teacher's steps, annotation, the student) before the cluster stops it.")
    default_resources: StepResources = Field(
        default_factory=StepResources, description="Resources of a step that neither `resources` nor the built-in "
        "per-step defaults (DEFAULT_STEP_RESOURCES) name.")
    resources: dict[str, StepResources] = Field(
        default_factory=dict, description="Resources per component name (e.g. teacher_sft: {memory_request: 64Gi, "
        "shm_size: 16Gi, scratch_size: 200Gi}); a component named here takes exactly these.")
    service_account: str = Field(
        default="relevance-distill-pipeline",
        description="ServiceAccount a pipeline run uses (`submit --service-account`); manifests/rbac binds its Role.")

    @model_validator(mode="after")
    def _gpu_settings_agree(self) -> KubernetesConfig:
        # With GPUs the default annotation engine is vLLM's CUDA build, which cannot start in a pod without one.
        if self.gpu_count > 0 and "annotate_shard" not in self.gpu_components:
            raise ValueError(f"gpu_count={self.gpu_count} makes vLLM the annotation engine, but gpu_components "
                             f"{self.gpu_components} gives annotate_shard no GPU: add 'annotate_shard' to "
                             "gpu_components or set gpu_count to 0")
        return self

    def resources_for(self, component: str) -> StepResources:
        """What COMPONENT asks for: its entry in ``resources``, else the built-in default for it, else
        ``default_resources``."""
        return self.resources.get(component) or DEFAULT_STEP_RESOURCES.get(component) or self.default_resources

    def gpus_for(self, component: str) -> int:
        """GPUs COMPONENT requests: ``gpu_count`` for the GPU components, else none."""
        return self.gpu_count if component in self.gpu_components else 0

    def annotation_tensor_parallel_size(self) -> int:
        """vLLM's tensor parallelism in an annotation shard: every GPU the shard requests (1 without GPUs)."""
        return max(1, self.gpus_for("annotate_shard"))

    def annotation_engine(self) -> str:
        """The annotation engine a compiled pipeline uses by default: vLLM where its pods get GPUs, else the
        transformers engine (vLLM's CUDA build cannot start without one)."""
        return "vllm" if self.gpu_count > 0 else field_default(EngineConfig, "engine")


RUN_PROFILES: dict[str, RunProfile] = {
    "smoke": RunProfile(
        description="Tiny data, tiny random models, a few steps each: proves the wiring in about 3 minutes (tests, CI).",
        data=DataGenerationConfig(num_services=120, num_queries=60, num_log_pairs=200, corpus_documents=100),
        # Wiring, not quality: no macro-F1 floor.
        gate=GateConfig(min_macro_f1=0.0, min_retention=0.0),
        annotation=AnnotationRunConfig(shards=2, samples=2, max_new_tokens=128, max_pairs=40),
        student_methods=list(DEFAULT_STUDENT_METHODS),
        evaluation=EvaluationConfig(latency_requests=5),
        ab_users=4000, student_profile="smoke", own_data_student_profile="smoke"),
    "demo": RunProfile(
        description="The built-in data with the demo teacher and the real MiniLM student (the README's `make demo`).",
        data=DataGenerationConfig(),
        # Retention is reported, not gated: the small CPU teacher of the local run is weaker than the student.
        gate=GateConfig(min_macro_f1=0.4, min_retention=0.0),
        annotation=AnnotationRunConfig(shards=2, samples=3, max_new_tokens=128, max_pairs=400),
        # CRSD, the vanilla baseline (the A/B stable model) and the gold-only student that tells whether the
        # teacher helps at all; `train-student --methods …` and benchmarks/method_comparison.py run every baseline.
        student_methods=[PRIMARY_STUDENT_METHOD, "gold_only", "vanilla"],
        evaluation=EvaluationConfig(latency_requests=15),
        ab_users=20000, student_profile="demo", own_data_student_profile="full"),
}
