"""Repository hygiene that CI relies on."""
import os
import re

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_ci_runs_the_readme_test_command():
    readme = open(os.path.join(REPO, "README.md")).read()
    ci = open(os.path.join(REPO, ".ci", "run")).read()
    match = re.search(r"<!-- test-command -->\s*```(?:bash)?\n(.+?)\n```", readme, re.S)
    assert match, "README must mark its test command with <!-- test-command -->"
    command = match.group(1).strip()
    assert command in ci, f".ci/run does not run the README test command: {command}"


def test_dependencies_declared_in_setup_cfg():
    text = open(os.path.join(REPO, "setup.cfg")).read()
    for dep in ["torch", "torchvision", "mmengine", "pycocotools", "scipy", "lap", "av", "numpy",
                "opencv-python-headless", "tqdm", "tensorboard"]:
        assert re.search(rf"^\s+{re.escape(dep)}\b", text, re.M), dep
