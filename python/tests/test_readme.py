"""The README's Python example runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest


def test_readme_python_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("polars", reason="the test command installs polars")
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme.split("## From Python", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None, "a python block in the README's Python section"
    exec(compile(code.group(1), "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "sensor-0" in out and "sensor-9" in out
