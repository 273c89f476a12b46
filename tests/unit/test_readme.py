"""The README's two set-up commands are the product's front door; CI must run the second."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```sh\n(.+?)\n```", text)[:2]


def test_readme_opens_with_two_commands():
    text = (ROOT / "README.md").read_text()
    first_lines = text.split("\n## ")[0]
    assert first_lines.count("```sh") == 2
    install, test = readme_commands()
    assert "pip install" in install and "joytui" in install.split("&&")[-1]
    assert "'.[test]'" in test and "pytest" in test


def test_ci_runs_the_readme_test_command_verbatim():
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert readme_commands()[1] in ci
