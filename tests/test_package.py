"""`pip install .` installs Headlight's packages (encoder, figures, headlight) with the explorer's
JavaScript, and `import headlight` works from outside the checkout with the fixed names."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib

import pytest
from apptest import ROOT

FIXED_NAMES = ("load_model", "show")  # called by checks outside this suite: never rename


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> str:
    """The checkout's package, installed with pip into a temporary folder. Built from a copy of the
    checkout's sources, so that setuptools' build/ and *.egg-info land in the copy, not in the
    working tree; --no-build-isolation uses the installed setuptools (nothing is downloaded)."""
    source = tmp_path_factory.mktemp("source")
    for name in ("encoder", "figures", "headlight"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    target = tmp_path_factory.mktemp("target")
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
                           "--no-index", "--quiet", "--target", str(target), str(source)],
                          capture_output=True, text=True, timeout=300, cwd=source)
    assert done.returncode == 0, done.stderr[-3000:]
    return str(target)


def test_headlight_imports_from_outside_the_checkout_with_the_fixed_names(installed, tmp_path):
    probe = (
        "import json, headlight, figures.explorer as e\n"
        f"names = {FIXED_NAMES!r}\n"
        "print(json.dumps({'file': headlight.__file__, 'explorer': str(e.FOLDER),\n"
        "  'callable': [callable(getattr(headlight, n, None)) for n in names],\n"
        "  'same_loader': headlight.load_model.__module__, 'js': len(e.module_js('widget')),\n"
        "  'protocol': (e.FOLDER / 'PROTOCOL.md').is_file()}))\n"
    )
    # Only the installed copy on the path: the checkout is neither the working folder nor on PYTHONPATH.
    env = {"PYTHONPATH": installed, "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]

    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["file"].startswith(installed) and seen["explorer"].startswith(installed)
    assert not seen["file"].startswith(str(ROOT))
    assert seen["callable"] == [True] * len(FIXED_NAMES)
    assert seen["same_loader"].startswith("encoder")
    assert seen["js"] > 10_000 and seen["protocol"]  # the package data came along


def test_the_package_pins_what_the_requirements_pin():
    """The metadata and requirements*.txt must not drift: every dependency the package declares is
    pinned to the same version in requirements.txt or requirements-notebook.txt."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pins = {}
    for name in ("requirements.txt", "requirements-notebook.txt"):
        for line in (ROOT / name).read_text(encoding="utf-8").splitlines():
            match = re.fullmatch(r"([A-Za-z0-9_.\[\]-]+)==(\S+)", line.strip())
            if match:
                pins[match[1].lower().replace("_", "-")] = match[2]
    declared = project["dependencies"] + [d for extra in project["optional-dependencies"].values() for d in extra]
    assert declared
    for dependency in declared:
        name, version = dependency.split("==")
        assert pins.get(name.lower().replace("_", "-")) == version, dependency
