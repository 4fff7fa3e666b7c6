from typing import NamedTuple, Optional

from kfp import dsl
from kfp.dsl import Artifact, Metrics, Output

from components.images import component_image


@dsl.component(base_image=component_image("prepare_data"), install_kfp_package=False)
def prepare_data(
    input_uri: str,
    output_uri: str,
    validation: Output[Metrics],
    prepared: Output[Artifact],
    input_format: Optional[str] = None,
    label_scheme: Optional[str] = None,
    products_uri: str = "",
    test_uri: str = "",
    unlabeled_uri: str = "",
    split_strategy: Optional[str] = None,
    split_fractions_json: str = "",
    seed: Optional[int] = None,
) -> NamedTuple("PreparedData", [("prepared_uri", str), ("train_uri", str), ("dev_uri", str), ("test_uri", str),
                                 ("unlabeled_uri", str)]):
    """Validate (quarantine, de-duplicate) and split labelled pairs; publish them to OUTPUT_URI.

    TEST_URI is a fixed test set in the same format (only evaluated on; pairs sharing its queries leave
    train/dev). UNLABELED_URI holds search-log pairs for the teacher (minus dev/test queries); without it the
    teacher annotates the training pairs. SPLIT_FRACTIONS_JSON is {"train": …, "dev": …, "test": …}. Unset
    settings take PrepareDataConfig's defaults.
    """
    import json
    from collections import namedtuple

    from relevance_distill.config import PrepareDataConfig, config_from_arguments
    from relevance_distill.data.prepare import prepare_dataset, split_uris

    config = config_from_arguments(PrepareDataConfig, input_format=input_format, label_scheme=label_scheme,
                                   split_strategy=split_strategy, seed=seed,
                                   split_fractions=json.loads(split_fractions_json) if split_fractions_json else None)
    summary = prepare_dataset(input_uri, output_uri, config, products_uri or None, test_uri=test_uri,
                              unlabeled_uri=unlabeled_uri)
    for key in ("rows_in", "kept", "quarantined", "test_query_leaks_removed"):
        validation.log_metric(key, summary["validation"][key])
    validation.log_metric("unlabeled_pairs", summary["unlabeled"]["pairs"])
    with open(prepared.path, "w", encoding="utf-8") as handle:
        json.dump(summary, handle, indent=2, ensure_ascii=False)
    prepared.metadata["uri"] = output_uri
    uris = split_uris(output_uri)
    outputs = namedtuple("PreparedData", ["prepared_uri", "train_uri", "dev_uri", "test_uri", "unlabeled_uri"])
    return outputs(output_uri, uris["train"], uris["dev"], uris["test"], uris["unlabeled"])
