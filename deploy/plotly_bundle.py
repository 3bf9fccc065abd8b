"""plotly.js's cartesian partial bundle for the Attention page's explorer: an optional step at install
time, never at run time.

    python -m deploy.plotly_bundle            # npm pack, check, put it in ./static
    python -m deploy.plotly_bundle --from plotly.js-cartesian-dist-min-4.1.1.tgz   # a server without npm
    python -m deploy.plotly_bundle --check    # which bundle the app will serve, and why

The explorer draws heatmap, image and scatter traces only, all of them in plotly's cartesian partial
bundle (npm `plotly.js-cartesian-dist-min`): 1.5 MB against the full bundle's 4.8 MB, which a cold
Chromium parses and compiles in about a third of the time (README, "First view levers"). No pip
package ships it, so this fetches, with `npm pack`, the one whose version is that of the plotly.js
the installed plotly package ships, checks its name, version and header, and writes it into the
folder Streamlit serves at app/static/. The app (components.plotly_js_url) serves it only while its
version matches the installed plotly's; otherwise, or where it was never installed, the full bundle.
The app reads the folder once per process: restart the server after installing.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import NamedTuple

APP_STATIC = Path(__file__).resolve().parents[1] / "static"  # served at app/static/ (server.enableStaticServing)
PACKAGE = "plotly.js-cartesian-dist-min"
CARTESIAN = "plotly-cartesian.min.js"  # the file's name in the npm package, and in the static folder
FULL = "plotly.min.js"
MAX_BUNDLE_BYTES = 16 * 2**20  # the cartesian bundle is 1.5 MB; a tarball member beyond this is not it
# Every plotly.js dist file opens with its name and version: "* plotly.js v4.1.1" for the full bundle,
# "* plotly.js (cartesian - minified) v4.1.1" for a partial one.
_HEADER = re.compile(rb"\A/\*\*\s*\n\* plotly\.js (?:\((?P<partial>[a-z0-9-]+) - minified\) )?"
                     rb"v(?P<version>\d+\.\d+\.\d+(?:-[0-9A-Za-z.]+)?)\s*\n")
_HEADER_BYTES = 256
# Streamlit serves app/static/ with no Cache-Control and answers a revalidation with the whole file
# (never 304), so a browser reuses its copy only while Chromium's heuristic freshness lasts: a tenth
# of the file's age by its Last-Modified, its modification time. A script fetched again also loses
# the code Chromium compiled and kept for it (a returning first view took 2.9 s instead of 1.8 s,
# README "First view levers"). So the served files carry the plotly.js version in their URL (one
# URL, one content: served_url) and are dated long ago, at the date npm stamps on every file of a
# package, 1985-10-26 08:15 UTC: Chromium then keeps them for years.
SERVED_MTIME = 499_162_500


class Bundle(NamedTuple):
    partial: str | None  # "cartesian", or None for the full bundle
    version: str


class BundleError(RuntimeError):
    """The bundle could not be had or is not the one asked for; the message says which and why."""


def full_bundle() -> Path:
    """The full plotly.min.js that the installed plotly package ships."""
    import plotly

    return Path(plotly.__file__).parent / "package_data" / FULL


def read_header(head: bytes) -> Bundle | None:
    """The bundle a plotly.js file's first bytes name, or None where they name none."""
    found = _HEADER.match(head)
    if found is None:
        return None
    partial = found["partial"].decode() if found["partial"] else None
    return Bundle(partial, found["version"].decode())


def bundle_of(path: Path) -> Bundle | None:
    """The bundle the file at `path` is, by its header; None for a missing or unrecognised file."""
    try:
        with path.open("rb") as file:
            return read_header(file.read(_HEADER_BYTES))
    except OSError:
        return None


def installed_version() -> str | None:
    """The version of the plotly.js the installed plotly package ships, by its header."""
    full = bundle_of(full_bundle())
    return full.version if full is not None and full.partial is None else None


def served_url(name: str) -> str:
    """The URL of a plotly.js in the app's static folder: relative, so it holds under any
    server.baseUrlPath, and naming the installed plotly.js version, so an upgrade changes it."""
    import plotly

    return f"app/static/{name}?v={installed_version() or plotly.__version__}"


def date_for_caching(path: Path) -> None:
    """Give a served file the old modification time SERVED_MTIME, unless it has it."""
    if path.stat().st_mtime != SERVED_MTIME:
        os.utime(path, (SERVED_MTIME, SERVED_MTIME))


def cartesian_status(static: Path = APP_STATIC) -> tuple[bool, str]:
    """Whether `static` holds the cartesian bundle of the installed plotly's version, and why not."""
    version = installed_version()
    if version is None:
        return False, f"the installed plotly's {FULL} names no version"
    installed = bundle_of(static / CARTESIAN)
    if installed is None:
        return False, f"no cartesian bundle in {static}"
    if installed != Bundle("cartesian", version):
        return False, (f"{static / CARTESIAN} is plotly.js {installed.version} ({installed.partial or 'full'}), "
                       f"the installed plotly's is {version}")
    return True, f"the cartesian bundle, plotly.js {version}"


def install_from_tarball(tarball: Path, version: str, static: Path = APP_STATIC) -> Path:
    """Check an npm tarball of `PACKAGE` at `version` and write its bundle into `static`, whole or
    not at all. Only two named members are read, never extracted, so no path in the archive counts."""
    try:
        with tarfile.open(tarball, "r:gz") as archive:
            manifest = json.loads(_member(archive, "package/package.json", 64 * 1024))
            bundle = _member(archive, f"package/{CARTESIAN}", MAX_BUNDLE_BYTES)
    except (OSError, tarfile.TarError, ValueError) as error:  # json's errors are ValueErrors
        raise BundleError(f"{tarball} is not a readable npm package: {error}") from error
    if (manifest.get("name"), manifest.get("version")) != (PACKAGE, version):
        raise BundleError(f"{tarball} is {manifest.get('name')}@{manifest.get('version')}, "
                          f"not {PACKAGE}@{version}")
    if read_header(bundle[:_HEADER_BYTES]) != Bundle("cartesian", version):
        raise BundleError(f"{CARTESIAN} in {tarball} does not open with plotly.js's cartesian {version} header")
    static.mkdir(parents=True, exist_ok=True)
    target = static / CARTESIAN
    staging = target.with_suffix(".tmp")
    staging.write_bytes(bundle)
    date_for_caching(staging)
    staging.replace(target)  # atomic: a server never serves half a file
    return target


def _member(archive: tarfile.TarFile, name: str, max_bytes: int) -> bytes:
    member = archive.getmember(name)  # KeyError where it is missing
    if not member.isfile() or member.size > max_bytes:
        raise ValueError(f"{name} is not a file of at most {max_bytes} bytes")
    return archive.extractfile(member).read()


def npm_pack(version: str, folder: Path, npm: str = "npm") -> Path:
    """`npm pack PACKAGE@version` into `folder` (npm checks the tarball against the registry's
    integrity hash); the tarball's path."""
    executable = shutil.which(npm)
    if executable is None:
        raise BundleError(f"{npm} was not found; install npm, or run `npm pack {PACKAGE}@{version}` "
                          "on another machine and pass the tarball with --from")
    command = [executable, "pack", f"{PACKAGE}@{version}", "--json", "--ignore-scripts",
               "--pack-destination", str(folder)]
    try:
        done = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=300, check=False)
    except subprocess.TimeoutExpired as error:
        raise BundleError(f"npm pack {PACKAGE}@{version} did not finish in 300 s") from error
    if done.returncode != 0:
        raise BundleError(f"npm pack {PACKAGE}@{version} failed:\n{done.stderr.strip()[-2000:]}")
    try:
        filename = json.loads(done.stdout)[0]["filename"]
    except (ValueError, LookupError, TypeError) as error:
        raise BundleError(f"npm pack said something unexpected:\n{done.stdout[-2000:]}") from error
    return folder / Path(filename).name


def install(static: Path = APP_STATIC, npm: str = "npm", tarball: Path | None = None) -> Path:
    """Fetch (or take from `tarball`) the cartesian bundle of the installed plotly's version and
    install it into `static`; the installed file's path."""
    version = installed_version()
    if version is None:
        raise BundleError(f"the installed plotly's {full_bundle()} names no plotly.js version")
    if tarball is not None:
        return install_from_tarball(tarball, version, static)
    with tempfile.TemporaryDirectory(prefix="headlight-plotly-") as folder:
        return install_from_tarball(npm_pack(version, Path(folder), npm), version, static)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--static", type=Path, default=APP_STATIC, help="the app's static folder")
    parser.add_argument("--from", dest="tarball", type=Path, help="an npm tarball of the package, instead of npm pack")
    parser.add_argument("--npm", default="npm", help="the npm executable")
    parser.add_argument("--check", action="store_true", help="only say which bundle the app will serve")
    args = parser.parse_args(argv)
    if not args.check:
        try:
            target = install(args.static, args.npm, args.tarball)
        except BundleError as error:
            print(f"not installed: {error}", file=sys.stderr)
            return 1
        print(f"installed {target} ({os.path.getsize(target) / 1e6:.2f} MB); restart the app to serve it")
    serves, why = cartesian_status(args.static)
    print(f"the app serves {why}" if serves else f"the app serves the full {FULL}: {why}")
    return 0 if serves or args.check else 1


if __name__ == "__main__":
    sys.exit(main())
