"""Refresh the README's screenshots: every page of the registry in Debian's Chromium.

    python -m bench.screenshots [--out assets/screenshots]

Starts its own `streamlit run app.py` on a free localhost port, opens the default example on
layer 2, head 9 (a head where every token attends to the token before it) at 1600 x 1000, and
writes <page>.png for each page the README shows. The browser tests call `take_screenshots` into a temporary
folder, so running the suite never changes the tracked copies.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.app_server import free_port, start_server, stop_server, wait_until_healthy
from bench.browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, PAGES, RUN_COUNTER_JS, SCREENSHOTS, VIEWPORT, App

README_PAGES = ("attention", "embeddings", "positional")  # the pages the README shows
HIDE_CHROME = ('[data-testid="stMainMenu"], [data-testid="stDecoration"], [data-testid="stSidebarCollapseButton"] '
               "{visibility: hidden}")


def take_screenshots(app: App, folder: Path, start: str = "/?layer=2&head=9",
                     pages: tuple[str, ...] = README_PAGES) -> list[Path]:
    """One full-window PNG per page named (registry url paths, the first the default page),
    written to `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    app.open(start)
    paths = []
    for number, name in enumerate(pages):
        if number:
            app.click_nav(PAGES[name][0])
        app.assert_healthy()
        app.page.mouse.move(0, 0)  # no hover label in the picture
        app.page.wait_for_timeout(300)
        path = folder / f"{name}.png"
        app.page.screenshot(path=path, full_page=False, animations="disabled", caret="hide", style=HIDE_CHROME)
        paths.append(path)
    return paths


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=SCREENSHOTS)
    args = parser.parse_args()
    port = free_port()
    process = start_server(port, ARTIFACTS / "screenshots-server.log")
    try:
        wait_until_healthy(process, port, ARTIFACTS / "screenshots-server.log", timeout=90)
        with sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
            context.add_init_script(RUN_COUNTER_JS)
            for path in take_screenshots(App(context.new_page(), f"http://127.0.0.1:{port}"), args.out):
                print(f"{path}  {path.stat().st_size / 1e3:.0f} kB")
            browser.close()
    finally:
        stop_server(process)


if __name__ == "__main__":
    main()
