"""Records that flow between stages, and the label scheme that gives labels their meaning.

Every record is a pydantic v2 model with ``extra="forbid"``: a misspelt key is an error, not a silently
ignored column. Records are stored one per line as JSON (our JSONL schema).
"""

from __future__ import annotations

import hashlib
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)


class StrictModel(BaseModel):
    """Base for every record and config: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class LabelGrade(StrictModel):
    name: str = Field(description="Label name as the teacher writes it and reports show it, e.g. 'exact'.")
    grade: float = Field(description="Numeric relevance grade; higher means more relevant.")
    aliases: list[str] = Field(
        default_factory=list,
        description="Raw values in source data that mean this label (e.g. 'E' for ESCI exact, '4' for CrowdFlower).",
    )
    description: str = Field(default="", description="What the grade means, shown to annotators and in prompts.")

    @field_validator("name")
    @classmethod
    def _name_is_a_token(cls, name: str) -> str:
        if not name or name != name.strip() or "<" in name or ">" in name:
            raise ValueError(f"label name {name!r} must be non-empty, without surrounding spaces or angle brackets")
        return name


class LabelScheme(StrictModel):
    """An ordered list of graded labels. The scheme is data, not code: datasets bring their own."""

    name: str = Field(description="Identifier of the scheme, e.g. 'local_services' or 'esci'.")
    labels: list[LabelGrade] = Field(
        min_length=2, description="Labels ordered from least to most relevant (strictly increasing grades)."
    )
    relevant_from: str = Field(
        description="Lowest label counted as 'relevant' for binary metrics (ROC-AUC, bad-case rate)."
    )

    @model_validator(mode="after")
    def _check_order_and_names(self) -> LabelScheme:
        names = [label.name for label in self.labels]
        if len(set(names)) != len(names):
            raise ValueError(f"label names must be unique, got {names}")
        grades = [label.grade for label in self.labels]
        if any(later <= earlier for earlier, later in zip(grades, grades[1:])):
            raise ValueError(f"labels must be ordered by strictly increasing grade, got grades {grades}")
        if self.relevant_from not in names:
            raise ValueError(f"relevant_from {self.relevant_from!r} is not a label; allowed: {names}")
        seen: dict[str, str] = {}
        for label in self.labels:
            for raw in [label.name, *label.aliases]:
                if raw in seen and seen[raw] != label.name:
                    raise ValueError(f"raw value {raw!r} maps to both {seen[raw]!r} and {label.name!r}")
                seen[raw] = label.name
        return self

    @property
    def names(self) -> list[str]:
        return [label.name for label in self.labels]

    @property
    def num_labels(self) -> int:
        return len(self.labels)

    def index(self, name: str) -> int:
        """Position of ``name`` in the ordered scheme (the class id used by models)."""
        try:
            return self.names.index(name)
        except ValueError:
            raise ValueError(f"unknown label {name!r} for scheme {self.name!r}; allowed: {self.names}") from None

    def grade(self, name: str) -> float:
        return self.labels[self.index(name)].grade

    def is_relevant(self, name: str) -> bool:
        return self.index(name) >= self.index(self.relevant_from)

    def resolve(self, raw: Any) -> str:
        """Map a raw source value (a name, an alias, or a number equal to a grade) to a label name."""
        text = str(raw).strip()
        for label in self.labels:
            if text == label.name or text in label.aliases:
                return label.name
        allowed = [value for label in self.labels for value in [label.name, *label.aliases]]
        raise ValueError(f"unknown label {raw!r} for scheme {self.name!r}; allowed: {allowed}")

    def expected_score(self, probabilities: list[float]) -> float:
        """Expected grade under a predicted distribution, normalised to [0, 1] (the ranking score)."""
        if len(probabilities) != self.num_labels:
            raise ValueError(f"expected {self.num_labels} probabilities, got {len(probabilities)}")
        low, high = self.labels[0].grade, self.labels[-1].grade
        expected = sum(p * label.grade for p, label in zip(probabilities, self.labels))
        return (expected - low) / (high - low)


def _scheme(name: str, relevant_from: str, labels: list[tuple[str, float, list[str], str]]) -> LabelScheme:
    return LabelScheme(
        name=name,
        relevant_from=relevant_from,
        labels=[LabelGrade(name=n, grade=g, aliases=a, description=d) for n, g, a, d in labels],
    )


BUILTIN_LABEL_SCHEMES: dict[str, LabelScheme] = {
    "local_services": _scheme(
        "local_services",
        "relevant",
        [
            ("irrelevant", 0, ["0"], "The service does not serve the query's need at all."),
            ("weak", 1, ["1"], "Same broad area, but a different kind of service than asked for."),
            ("relevant", 2, ["2"], "The right kind of service, but a stated requirement is not met."),
            ("exact", 3, ["3"], "The right kind of service and every stated requirement is met."),
        ],
    ),
    "crowdflower": _scheme(
        "crowdflower",
        "mostly",
        [
            ("irrelevant", 1, ["1"], "Median rater grade 1."),
            ("somewhat", 2, ["2"], "Median rater grade 2."),
            ("mostly", 3, ["3"], "Median rater grade 3."),
            ("perfect", 4, ["4"], "Median rater grade 4."),
        ],
    ),
    "qbqtc": _scheme(
        "qbqtc",
        "related",
        [
            ("unrelated", 0, ["0"], "The title does not answer the query."),
            ("related", 1, ["1"], "The title partly answers the query."),
            ("strong", 2, ["2"], "The title answers the query well."),
        ],
    ),
    "esci": _scheme(
        "esci",
        "substitute",
        [
            ("irrelevant", 0, ["I", "0", "0.000"], "ESCI Irrelevant."),
            ("complement", 1, ["C", "1", "1.000"], "ESCI Complement: used together with the wanted item."),
            ("substitute", 2, ["S", "10", "10.000"], "ESCI Substitute: can replace the wanted item."),
            ("exact", 3, ["E", "100", "100.000"], "ESCI Exact: the item asked for."),
        ],
    ),
}


def get_label_scheme(name: str) -> LabelScheme:
    try:
        return BUILTIN_LABEL_SCHEMES[name]
    except KeyError:
        raise ValueError(f"unknown label scheme {name!r}; allowed: {sorted(BUILTIN_LABEL_SCHEMES)}") from None


def _non_blank(value: str, field: str) -> str:
    if not value or not value.strip():
        raise ValueError(f"{field} must not be empty")
    return value.strip()


class Service(StrictModel):
    """A candidate the search engine may show: a local service, a product, a web page title."""

    service_id: str = Field(description="Stable identifier of the service within its source.")
    title: str = Field(description="Title as shown in search results (never empty).")
    category: str = Field(default="", description="Category path, e.g. 'Food > Hotpot'.")
    description: str = Field(default="", description="Free text description; empty is normal in some sources.")
    attributes: dict[str, str] = Field(default_factory=dict, description="Structured attributes, name to value.")
    merchant: str = Field(default="", description="Merchant or brand name.")
    location: str = Field(default="", description="District or address, for local services.")
    price: float | None = Field(default=None, ge=0, description="Typical price in the platform currency.")

    @field_validator("title", "service_id")
    @classmethod
    def _not_blank(cls, value: str, info: ValidationInfo) -> str:
        return _non_blank(value, info.field_name)

    def to_text(self, max_description_chars: int = 400) -> str:
        """The service as one line of text for models: fixed field order so training and serving agree."""
        parts = [self.title]
        if self.category:
            parts.append(f"category: {self.category}")
        if self.merchant:
            parts.append(f"merchant: {self.merchant}")
        if self.location:
            parts.append(f"location: {self.location}")
        if self.price is not None:
            parts.append(f"price: {self.price:g}")
        if self.attributes:
            parts.append("; ".join(f"{key}: {value}" for key, value in sorted(self.attributes.items())))
        if self.description:
            parts.append(self.description[:max_description_chars])
        return " | ".join(parts)


def make_pair_id(query: str, service_id: str) -> str:
    """Stable id of a (query, service) pair: the same pair gets the same id in every run and source."""
    digest = hashlib.sha1(f"{query.strip().lower()}\x1f{service_id}".encode()).hexdigest()
    return digest[:16]


class QueryServicePair(StrictModel):
    """One query and one candidate service, labelled (gold data) or not (search logs)."""

    pair_id: str = Field(description="Stable id; derived from query and service_id when the source has none.")
    query: str = Field(description="The search query as the user typed it (never empty).")
    query_id: str = Field(default="", description="Source query id; pairs are grouped by it when splitting.")
    service: Service = Field(description="The candidate service.")
    label: str | None = Field(default=None, description="Gold label name from the label scheme; None if unlabelled.")
    reasoning: str | None = Field(default=None, description="Gold reasoning chain explaining the label, if any.")
    source: str = Field(default="", description="Where the pair came from, e.g. 'crowdflower' or 'builtin'.")
    language: str = Field(default="", description="ISO language code of the query, e.g. 'en' or 'zh'.")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Source-specific extras kept verbatim.")

    @field_validator("query")
    @classmethod
    def _query_not_blank(cls, value: str) -> str:
        return _non_blank(value, "query")

    @property
    def group_key(self) -> str:
        """Key that keeps one query's pairs together in a split."""
        return self.query_id or self.query.strip().lower()


class Annotation(StrictModel):
    """The teacher's judgement of one pair."""

    pair_id: str = Field(description="Id of the annotated QueryServicePair.")
    label: str = Field(description="Majority label over the teacher's samples.")
    reasoning: str = Field(description="Reasoning chain of the chosen majority sample.")
    confidence: float = Field(ge=0, le=1, description="Vote share of the majority label.")
    votes: dict[str, float] = Field(default_factory=dict, description="Vote share per label over all samples.")
    label_probs: dict[str, float] = Field(
        default_factory=dict, description="The teacher's probability of each label at the label position of its answers "
        "(label-name continuations, softmax over the scheme, mean over parsed samples); empty when not recorded.")
    teacher_version: str = Field(description="Version (or URI) of the teacher model that produced the annotation.")

    @model_validator(mode="after")
    def _votes_are_shares(self) -> Annotation:
        if self.votes and abs(sum(self.votes.values()) - 1.0) > 1e-6:
            raise ValueError(f"votes must sum to 1, got {sum(self.votes.values())}")
        if self.label_probs and abs(sum(self.label_probs.values()) - 1.0) > 1e-4:
            raise ValueError(f"label_probs must sum to 1, got {sum(self.label_probs.values())}")
        return self


# -- fingerprints of a gold set (prepare writes one; evaluation and the gate compare them) --------------

def fingerprint_entries(entries: list[str]) -> str:
    """sha256 over the sorted 'pair_id<TAB>label' lines of a gold set (prepare streams them in)."""
    return hashlib.sha256("\n".join(sorted(entries)).encode()).hexdigest()


def test_set_fingerprint(pairs: list[QueryServicePair]) -> str:
    """Identifies the gold set, so a gate never compares metrics measured on different data."""
    return fingerprint_entries([f"{p.pair_id}\t{p.label}" for p in pairs])
