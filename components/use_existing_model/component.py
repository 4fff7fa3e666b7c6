from kfp import dsl

from components.images import component_image


@dsl.component(base_image=component_image("use_existing_model"), install_kfp_package=False)
def use_existing_model(model_uri: str) -> str:
    """Stands in for a skipped teacher step: checks that MODEL_URI is a published model (manifest with
    config.json and weights) and passes it on. Reads the manifest only, so even a 7B model is checked in seconds."""
    from relevance_distill import storage
    from relevance_distill.progress import report_result

    manifest = storage.require_published_model(model_uri)
    report_result(f"using existing model {model_uri} ({len(manifest.files)} files)")
    return model_uri
