"""The guides under docs/ build as a site with nothing broken: `mkdocs build --strict` fails
on a link to a missing page or anchor, a page left out of the navigation, or a bad setting,
and the README links only to pages that exist."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_documentation_site_builds_strictly(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},  # the theme's notice, not ours
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    for page in ("partners", "kafka", "console", "configuration", "operations", "architecture"):
        # The offline plugin writes plain files, so the site opens from disk as well.
        assert (tmp_path / f"{page}.html").exists(), page


def test_every_file_the_readme_links_to_exists() -> None:
    readme = (ROOT / "README.md").read_text()
    targets = re.findall(r"\]\(([^)#]+)[^)]*\)", readme)
    assert targets, "the README points readers to the guides"
    missing = [t for t in targets if not t.startswith("http") and not (ROOT / t).exists()]
    assert missing == []
