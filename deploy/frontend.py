"""Browser packages from npm: GOV.UK Frontend and htmx (served by the staff console) and axe-core
(injected into pages by the browser tests to check accessibility).

The versions are pinned in deploy/frontend/package-lock.json. `fetch` installs exactly that lock
with `npm ci` into `$SAFEGUARDING_CACHE` (default `~/.cache/safeguarding`), outside the checkout
so no `node_modules` lands in the tree, in a folder named by the lock's hash, so changing the lock
fetches again and an unchanged lock costs nothing.

    python -m deploy.frontend fetch     # install once (bootstrap does this)
    python -m deploy.frontend paths     # where the console's assets are
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent / "frontend"
PACKAGE_JSON = PACKAGE_DIR / "package.json"
LOCK_FILE = PACKAGE_DIR / "package-lock.json"
FETCH_COMMAND = "python -m deploy.frontend fetch"


class FrontendError(RuntimeError):
    """The pinned browser packages could not be fetched or are not there."""


@dataclass(frozen=True)
class FrontendAssets:
    """The files the console serves and the tests inject, inside the fetched packages."""

    govuk_dist: Path  # govuk-frontend.min.css, govuk-frontend.min.js and assets/ (fonts, images)
    htmx_js: Path  # htmx.min.js
    axe_js: Path  # axe.min.js: the accessibility engine, for tests only

    @property
    def govuk_css(self) -> Path:
        return self.govuk_dist / "govuk-frontend.min.css"

    @property
    def govuk_js(self) -> Path:
        return self.govuk_dist / "govuk-frontend.min.js"

    @property
    def govuk_assets(self) -> Path:
        return self.govuk_dist / "assets"


def cache_dir() -> Path:
    root = os.environ.get("SAFEGUARDING_CACHE") or str(Path.home() / ".cache" / "safeguarding")
    return Path(root) / "frontend"


def _lock_key() -> str:
    return hashlib.sha256(LOCK_FILE.read_bytes()).hexdigest()[:16]


def _locked_versions() -> dict[str, str]:
    """Each package the lock installs (by its node_modules path) and its pinned version."""
    lock = json.loads(LOCK_FILE.read_text())
    return {
        path: entry["version"]
        for path, entry in lock["packages"].items()
        if path.startswith("node_modules/")
    }


def _missing(node_modules: Path) -> list[str]:
    """The lock's packages that are absent from `node_modules` or at another version."""
    missing = []
    for path, version in _locked_versions().items():
        manifest = node_modules.parent / path / "package.json"
        found = json.loads(manifest.read_text()).get("version") if manifest.exists() else None
        if found != version:
            missing.append(f"{path.removeprefix('node_modules/')}@{version}")
    return missing


def fetch() -> Path:
    """Install the lock's packages once; return their node_modules folder."""
    home = cache_dir() / _lock_key()
    if (home / "node_modules").is_dir() and not _missing(home / "node_modules"):
        return home / "node_modules"
    npm = shutil.which("npm")
    if npm is None:
        raise FrontendError(
            "npm is needed to fetch the browser packages (Debian: apt-get install npm)"
        )
    print(f"fetching browser packages from npm into {home} (once per lock file)…", flush=True)
    staging = cache_dir() / f"install.{os.getpid()}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    shutil.copy2(PACKAGE_JSON, staging / "package.json")
    shutil.copy2(LOCK_FILE, staging / "package-lock.json")
    # `npm ci` installs exactly the lock (and fails if package.json disagrees with it); no
    # package here needs an install script, so none is run.
    got = subprocess.run(
        [npm, "ci", "--omit=dev", "--ignore-scripts", "--no-audit", "--no-fund"],
        cwd=staging, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if got.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise FrontendError(f"npm ci failed:\n{got.stdout[-2000:]}{got.stderr[-2000:]}")
    # Rename last, so a half-finished install never looks like a cached one. A damaged earlier
    # install is replaced; a complete one (a concurrent fetch that renamed first) wins.
    if home.exists() and _missing(home / "node_modules"):
        shutil.rmtree(home)
    with contextlib.suppress(OSError):
        staging.rename(home)
    shutil.rmtree(staging, ignore_errors=True)
    if missing := _missing(home / "node_modules"):
        raise FrontendError(f"installing into {home} left out: {', '.join(missing)}")
    return home / "node_modules"


def frontend_dir() -> Path:
    """The node_modules folder holding the lock's packages; an error saying how to fetch them if
    they are not there (nothing is downloaded here, so a test or a server start stays offline)."""
    node_modules = cache_dir() / _lock_key() / "node_modules"
    if not node_modules.is_dir():
        raise FrontendError(
            f"the browser packages pinned in {LOCK_FILE} are not fetched "
            f"(no {node_modules}); run: {FETCH_COMMAND}"
        )
    if missing := _missing(node_modules):
        raise FrontendError(
            f"{node_modules} lacks {', '.join(missing)} from {LOCK_FILE.name}; run: {FETCH_COMMAND}"
        )
    return node_modules


def asset_paths() -> FrontendAssets:
    """Where GOV.UK Frontend's built files, htmx and axe-core are in the fetched packages."""
    node_modules = frontend_dir()
    assets = FrontendAssets(
        govuk_dist=node_modules / "govuk-frontend" / "dist" / "govuk",
        htmx_js=node_modules / "htmx.org" / "dist" / "htmx.min.js",
        axe_js=node_modules / "axe-core" / "axe.min.js",
    )
    expected = (
        assets.govuk_css,
        assets.govuk_js,
        assets.govuk_assets,
        assets.htmx_js,
        assets.axe_js,
    )
    if absent := [str(path) for path in expected if not path.exists()]:
        # A new major version can move its built files: say which, rather than serve a 404.
        raise FrontendError(f"expected files missing from the fetched packages: {absent}")
    return assets


def main() -> None:
    import sys

    command = sys.argv[1] if len(sys.argv) > 1 else "fetch"
    if command == "fetch":
        versions = ", ".join(
            f"{path.removeprefix('node_modules/')} {version}"
            for path, version in sorted(_locked_versions().items())
        )
        print(f"browser packages ({versions}): {fetch()}")
        return
    if command == "paths":
        assets = asset_paths()
        print(f"govuk-frontend: {assets.govuk_dist}")
        print(f"htmx: {assets.htmx_js}")
        print(f"axe-core: {assets.axe_js}")
        return
    raise SystemExit(f"unknown command {command!r}: use fetch or paths")


if __name__ == "__main__":
    main()
