"""The teacher LLM at inference: loading, generation, engines (transformers, vLLM) and self-consistency; below
``teacher/`` and ``annotate/``, which both use it."""
