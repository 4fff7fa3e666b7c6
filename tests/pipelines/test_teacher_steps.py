"""The run summary's record of the teacher steps: what each published, or why the reward model trained nothing."""

from __future__ import annotations

import json

from relevance_distill import layout, storage


def _publish(root: str, step: str, tmp_path, metrics: dict) -> None:
    directory = tmp_path / "local" / root.rsplit("/", 1)[-1] / step
    directory.mkdir(parents=True)
    (directory / "model.safetensors").write_bytes(b"weights")
    (directory / layout.METRICS_FILE).write_text(json.dumps(metrics))
    storage.publish_dir(directory, layout.teacher_model_uri(root, step), metadata={"stage": step})


def test_the_summary_names_the_reward_model_an_sft_give_up_skipped(tmp_path):
    from pipelines.local import teacher_steps

    root = str(tmp_path / "gave-up")
    gave_up = {"give_up": {"gave_up_at_step": 500, "checks": [{"step": 250}, {"step": 500}]}}
    for step, metrics in (("cpt", {}), ("sft", gave_up), ("preference", {})):
        _publish(root, step, tmp_path, metrics)
    steps = teacher_steps(root)
    assert steps["reward"] == {"skipped": "teacher SFT gave up at step 500 (one label answered for every checked dev pair "
                                          "at 2 checks)"}
    assert steps["sft"]["files"] == ["metrics.json", "model.safetensors"] and set(steps) == {"cpt", "sft", "reward", "dpo"}

    # An SFT that trained its budget: every step published, the reward model included.
    trained = str(tmp_path / "trained")
    for step in ("cpt", "sft", "reward", "preference"):
        _publish(trained, step, tmp_path, {"loss_curve": []})
    assert all(entry["files"] == ["metrics.json", "model.safetensors"] for entry in teacher_steps(trained).values())
