"""The built-in synthetic world: a city's local-services platform whose labels follow documented rules.

Everything that knows this world lives here: its catalogue, districts and features (``generate``), the rule engine
``judge`` and the grammar of its reasoning chains, counterfactual edits and digit-by-digit price steps, and the
:class:`~relevance_distill.plugins.DatasetPlugin` that offers them to the teacher by name (``builtin``, ``plugin``).
The teacher, annotation, students, evaluation and serving never import it (a test enforces that): a user's data has
no rule engine, and a recipe that needs one does not carry over.
"""
