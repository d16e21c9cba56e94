"""The layers in README "Architecture", as import-linter contracts (pyproject.toml):
arrows point down only, no import cycles, tools and test support kept apart."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_hold() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--no-cache"], cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout, result.stdout


def test_the_contracts_cover_every_top_level_package() -> None:
    """A new package under townhall/ must be placed in a layer, or it escapes them."""
    text = (REPO_ROOT / "pyproject.toml").read_text()
    for entry in sorted((REPO_ROOT / "townhall").iterdir()):
        if entry.name.startswith(("_", ".")) or entry.suffix not in ("", ".py"):
            continue
        if entry.is_dir() and not (entry / "__init__.py").exists():
            continue
        module = f"townhall.{entry.stem}"
        assert f'"{module}' in text or f"| {module}" in text, f"{module} is in no contract"
