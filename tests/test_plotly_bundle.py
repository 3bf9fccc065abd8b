"""plotly's cartesian partial bundle (deploy/plotly_bundle.py): installed only from a checked npm
tarball of the installed plotly's version, and served by the app only while it matches; the full
bundle otherwise. Fake bundles and a fake npm in temporary folders: no network, no real npm."""

from __future__ import annotations

import io
import json
import stat
import sys
import tarfile
from pathlib import Path

import pytest

import components
from deploy import plotly_bundle
from deploy.plotly_bundle import CARTESIAN, FULL, PACKAGE, Bundle, BundleError

VERSION = plotly_bundle.bundle_of(plotly_bundle.full_bundle()).version


def cartesian_source(version: str = VERSION, partial: str = "cartesian") -> bytes:
    return (f"/**\n* plotly.js ({partial} - minified) v{version}\n* Copyright 2012-2026, Plotly, Inc.\n*/\n"
            "var Plotly = {};\n").encode()


def npm_tarball(path: Path, version: str = VERSION, bundle: bytes | None = None, name: str = PACKAGE) -> Path:
    """An npm pack tarball as npm writes one: everything under package/."""
    members = {"package/package.json": json.dumps({"name": name, "version": version}).encode(),
               f"package/{CARTESIAN}": cartesian_source(version) if bundle is None else bundle}
    with tarfile.open(path, "w:gz") as archive:
        for member_name, data in members.items():
            info = tarfile.TarInfo(member_name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def test_headers_name_the_bundle_and_its_version():
    assert plotly_bundle.bundle_of(plotly_bundle.full_bundle()) == Bundle(None, VERSION)
    assert VERSION.count(".") == 2
    assert plotly_bundle.read_header(cartesian_source("4.1.1")) == Bundle("cartesian", "4.1.1")
    assert plotly_bundle.read_header(b"var Plotly = {};") is None
    assert plotly_bundle.read_header(b"") is None


def test_the_app_serves_an_installed_cartesian_bundle_of_the_same_version(tmp_path, monkeypatch):
    static = tmp_path / "static"
    static.mkdir()
    (static / CARTESIAN).write_bytes(cartesian_source())
    monkeypatch.setattr(components, "STATIC", static)
    assert components.plotly_js_url.__wrapped__() == f"app/static/{CARTESIAN}?v={VERSION}"
    assert sorted(p.name for p in static.iterdir()) == [CARTESIAN], "the full bundle is not copied then"
    assert (static / CARTESIAN).stat().st_mtime == plotly_bundle.SERVED_MTIME, "dated for browsers to keep it"


@pytest.mark.parametrize("installed", [cartesian_source("1.0.0"), cartesian_source(partial="basic"),
                                       b"", b"var Plotly = {};"], ids=["other version", "other partial bundle",
                                                                      "empty", "no header"])
def test_any_other_file_leaves_the_app_on_the_full_bundle(tmp_path, monkeypatch, installed):
    static = tmp_path / "static"
    static.mkdir()
    (static / CARTESIAN).write_bytes(installed)
    monkeypatch.setattr(components, "STATIC", static)
    assert components.plotly_js_url.__wrapped__() == f"app/static/{FULL}?v={VERSION}"
    assert (static / FULL).read_bytes() == plotly_bundle.full_bundle().read_bytes()
    serves, why = plotly_bundle.cartesian_status(static)
    assert not serves and why


def test_a_checked_tarball_is_installed_whole(tmp_path):
    static = tmp_path / "static"
    target = plotly_bundle.install(static, tarball=npm_tarball(tmp_path / "p.tgz"))
    assert target == static / CARTESIAN
    assert target.read_bytes() == cartesian_source()
    assert target.stat().st_mtime == plotly_bundle.SERVED_MTIME
    assert plotly_bundle.cartesian_status(static)[0]
    assert sorted(p.name for p in static.iterdir()) == [CARTESIAN], "no staging file left"


@pytest.mark.parametrize("tarball", [
    lambda folder: npm_tarball(folder / "p.tgz", version="1.0.0"),
    lambda folder: npm_tarball(folder / "p.tgz", name="plotly.js-basic-dist-min"),
    lambda folder: npm_tarball(folder / "p.tgz", bundle=cartesian_source(partial="basic")),
    lambda folder: npm_tarball(folder / "p.tgz", bundle=b"<html>not a script</html>"),
    lambda folder: (folder / "p.tgz", (folder / "p.tgz").write_bytes(b"not gzip"))[0],
], ids=["other version", "other package", "other bundle inside", "no header", "not a tarball"])
def test_a_tarball_that_is_not_the_matching_cartesian_bundle_is_refused(tmp_path, tarball):
    static = tmp_path / "static"
    with pytest.raises(BundleError):
        plotly_bundle.install(static, tarball=tarball(tmp_path))
    assert not (static / CARTESIAN).exists()


def fake_npm(folder: Path, tarball: Path) -> Path:
    """An executable that answers `npm pack NAME@VERSION --json ... --pack-destination DIR` as npm
    does: the tarball in DIR and a JSON list naming it; it logs its arguments."""
    script = folder / "npm"
    script.write_text(f"""#!{sys.executable}
import json, shutil, sys
args = sys.argv[1:]
open({str(folder / "args.json")!r}, "w").write(json.dumps(args))
destination = args[args.index("--pack-destination") + 1]
shutil.copy({str(tarball)!r}, destination + "/p-1.tgz")
print(json.dumps([{{"filename": "p-1.tgz"}}]))
""")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def test_npm_pack_is_asked_for_the_installed_plotlys_version(tmp_path):
    npm = fake_npm(tmp_path, npm_tarball(tmp_path / "source.tgz"))
    static = tmp_path / "static"
    assert plotly_bundle.main(["--static", str(static), "--npm", str(npm)]) == 0
    args = json.loads((tmp_path / "args.json").read_text())
    assert args[:2] == ["pack", f"{PACKAGE}@{VERSION}"]
    assert "--ignore-scripts" in args
    assert plotly_bundle.bundle_of(static / CARTESIAN) == Bundle("cartesian", VERSION)


def test_without_npm_nothing_is_installed_and_the_message_says_what_to_do(tmp_path, capsys):
    static = tmp_path / "static"
    assert plotly_bundle.main(["--static", str(static), "--npm", str(tmp_path / "no-npm")]) == 1
    said = capsys.readouterr().err
    assert "--from" in said and f"npm pack {PACKAGE}@{VERSION}" in said
    assert not static.exists()


def test_check_says_which_bundle_the_app_serves(tmp_path, capsys):
    static = tmp_path / "static"
    assert plotly_bundle.main(["--check", "--static", str(static)]) == 0
    assert f"full {FULL}" in capsys.readouterr().out
    plotly_bundle.install(static, tarball=npm_tarball(tmp_path / "p.tgz"))
    assert plotly_bundle.main(["--check", "--static", str(static)]) == 0
    assert f"cartesian bundle, plotly.js {VERSION}" in capsys.readouterr().out
