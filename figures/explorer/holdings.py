"""What a browser's explorer holds, as its host knows it: the browser's last report (PROTOCOL.md,
"Browser → host": `have`, `layers`, `asked`) and what the host's messages carried since.

The browser reports only when it asks for something (a layer, head, token or colour of its own, or
a long text's next layers). Between reports the host reruns for its own reasons (a view option, the
link, the last streamed layer) and, with the report alone, sent again what the browser already held:
at 16 tokens the whole message (151 KB, the view included) on every view option's rerun, at 512
tokens the last streamed layer (2.5 MB) on every one. Both hosts, the app's page and the notebook
widget, keep the record these functions return (a small dict of ints and an id), next to the report.
"""

from __future__ import annotations

from .packer import header_of, reported_layers


def held_now(report: dict, delivered: dict | None) -> dict:
    """What to leave out of the next message: the browser's `report`, and, while that report is
    still its latest (same `asked`), the view and layers `delivered` records as sent since."""
    if not delivered or delivered.get("asked") != report.get("asked"):
        return report  # a new report: the browser's own word (it may have lost a view since)
    reported = reported_layers(report) if report.get("have") == delivered["have"] else set()
    return {**report, "have": delivered["have"], "layers": sorted(reported | set(delivered["layers"]))}


def delivered_after(report: dict, delivered: dict | None, payload: bytes) -> dict:
    """The record once `payload` (Explorer.payload) is on its way to the browser that sent `report`."""
    header = header_of(payload)
    before = held_now(report, delivered)
    kept = reported_layers(before) if before.get("have") == header["id"] else set()
    return {"asked": report.get("asked"), "have": header["id"],
            "layers": sorted(kept | {entry["layer"] for entry in header["layers"]})}

