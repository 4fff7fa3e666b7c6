"""Everything a component needs at run time ships inside the installed package: the built wheel, installed outside
the repository, loads the kustomize tree GitOps mode copies, the packaged production teacher config, the label
schemes, the prompt template, every component's YAML, and compiles both pipelines, without the checkout."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

from components.images import COMPONENT_IMAGES

ROOT = Path(__file__).resolve().parents[2]

CHECK = textwrap.dedent('''
    import json, sys
    from pathlib import Path
    sys.path[:0] = [sys.argv[1], sys.argv[2]]
    out = Path(sys.argv[3])
    import components, pipelines, relevance_distill
    origins = {m.__name__: m.__file__ for m in (relevance_distill, components, pipelines)}
    from relevance_distill.rollout.deploy import deploy_canary
    result = deploy_canary("s3://bucket/models/relevance/v2", "v2", "gitops", gitops_dir=out / "gitops",
                           stable_model_uri="s3://bucket/models/relevance/v1")
    from relevance_distill.teacher.profiles import teacher_config
    production = teacher_config("production-qwen2.5-7b")
    from relevance_distill.schemas import BUILTIN_LABEL_SCHEMES, get_label_scheme
    schemes = {name: get_label_scheme(name).names for name in BUILTIN_LABEL_SCHEMES}
    from relevance_distill.prompts import build_prompt, parse_answer
    prompt = build_prompt("hotpot", "Golden Hotpot", get_label_scheme("local_services"))
    from importlib.resources import files
    component_yaml = sorted(p.name for p in files("components").iterdir() if (p / "component.yaml").is_file())
    from pipelines.compile import compile_all
    compiled = [p.name for p in compile_all(out / "compiled", component_yaml=False)]
    print(json.dumps({"origins": origins, "gitops": sorted(str(p.relative_to(out / "gitops")) for p in (out / "gitops").rglob("*.yaml")),
                      "production_profile": production.profile, "schemes": schemes, "prompt_chars": len(prompt),
                      "component_yaml": component_yaml, "compiled": compiled}))
''')


def test_installed_wheel_carries_every_runtime_resource(tmp_path):
    dist, site = tmp_path / "dist", tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(dist),
                    str(ROOT)], check=True, timeout=600, cwd=tmp_path)
    wheel = next(dist.glob("relevance_distill-*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site), str(wheel)],
                   check=True, timeout=600, cwd=tmp_path)
    # -S: no site processing, so the development install's editable finder cannot answer for the package; the
    # dependencies come from this environment's site-packages, the package only from the installed wheel.
    result = subprocess.run([sys.executable, "-S", "-c", CHECK, str(site), sysconfig.get_paths()["purelib"], str(tmp_path)],
                            capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert all(path.startswith(str(site)) for path in report["origins"].values()), report["origins"]
    assert {"base/kustomization.yaml", "base/servingruntime.yaml", "rbac/role.yaml",
            "overlays/canary/kustomization.yaml"} <= set(report["gitops"])
    assert report["production_profile"].startswith("production")
    assert report["schemes"]["local_services"] == ["irrelevant", "weak", "relevant", "exact"]
    assert report["prompt_chars"] > 0 and set(report["component_yaml"]) == set(COMPONENT_IMAGES)
    assert report["compiled"] == ["distillation_pipeline.yaml", "ab_analysis_pipeline.yaml"]
