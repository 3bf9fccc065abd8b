"""A headless Streamlit browser session: one websocket, one script run, what it drew.

It speaks the protocol the Streamlit frontend speaks on `/_stcore/stream`: binary protobuf
frames, `BackMsg` from client to server and `ForwardMsg` back. Like a browser tab it offers the
`streamlit` subprotocol, sends no XSRF token or session id (a fresh tab has neither), and opens
the session with a `rerun_script` BackMsg whose ClientState carries the page's query string,
the default page (empty `page_script_hash` and `page_name`), no widget states, no cached
message hashes (so the server sends every element in full) and the browser's context info.

The server answers with `new_session` (which names the run), deltas (the elements), and
`script_finished`. A run that calls `st.rerun()` ends with FINISHED_EARLY_FOR_RERUN and is
followed by the next run of the chain; the session's result is the chain's last run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.Exception_pb2 import Exception as ExceptionProto
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.typing import Subprotocol

MAX_FRAME_BYTES = 512 * 1024 * 1024  # Plotly figure specs can be several MB; a browser has no limit
BROWSER_CONTEXT = {"timezone": "Europe/Berlin", "timezone_offset": -60, "locale": "en-US",
                   "color_scheme": "light", "is_embedded": False}


@dataclass
class SessionResult:
    """What one session saw. `seconds` runs from opening the socket to the final script_finished."""

    label: str
    seconds: float | None = None  # None when the run never finished (error, disconnect, timeout)
    connect_seconds: float | None = None
    charts: int = 0
    bytes_received: int = 0
    runs: int = 0  # script runs in the chain (more than 1 when the app calls st.rerun())
    page_errors: list[str] = field(default_factory=list)  # what the last run showed
    transport_errors: list[str] = field(default_factory=list)  # disconnects, timeouts, protocol

    @property
    def errors(self) -> list[str]:
        return self.transport_errors + self.page_errors


def stream_url(port: int) -> str:
    return f"ws://127.0.0.1:{port}/_stcore/stream"


def rerun_request(query_string: str, page_url: str) -> bytes:
    """The BackMsg a freshly opened browser tab sends for the default page."""
    message = BackMsg()
    client_state = message.rerun_script
    client_state.query_string = query_string
    client_state.page_script_hash = ""
    client_state.page_name = ""
    for name, value in BROWSER_CONTEXT.items():
        setattr(client_state.context_info, name, value)
    client_state.context_info.url = page_url
    client_state.widget_states.SetInParent()
    return message.SerializeToString()


def describe_exception(element_exception: ExceptionProto) -> str:
    return f"exception in page: {element_exception.type}: {element_exception.message}"[:300]


def record_delta(message: ForwardMsg, result: SessionResult) -> None:
    """Count charts and note exceptions and error boxes the page shows."""
    if message.delta.WhichOneof("type") != "new_element":
        return
    element = message.delta.new_element
    kind = element.WhichOneof("type")
    if kind == "plotly_chart" or (kind == "bidi_component" and element.bidi_component.component_name.startswith(
            "headlight_")):  # the Attention page's explorer draws its charts in the browser
        result.charts += 1
    elif kind == "exception" and not element.exception.is_warning:
        result.page_errors.append(describe_exception(element.exception))
    elif kind == "alert" and element.alert.format == element.alert.ERROR:
        result.page_errors.append(f"error box in page: {element.alert.body}"[:300])


def start_new_run(result: SessionResult) -> None:
    """A new run redraws the page: only the last run of a chain counts."""
    result.runs += 1
    result.charts = 0
    result.page_errors.clear()


def handle_message(message: ForwardMsg, result: SessionResult) -> bool:
    """Fold one ForwardMsg into the result; True when the session's run chain is over."""
    kind = message.WhichOneof("type")
    if kind == "new_session":
        start_new_run(result)
    elif kind == "delta":
        record_delta(message, result)
    elif kind == "session_event" and message.session_event.HasField("script_compilation_exception"):
        result.page_errors.append(describe_exception(message.session_event.script_compilation_exception))
    elif kind == "script_finished":
        status = message.script_finished
        if status == ForwardMsg.FINISHED_EARLY_FOR_RERUN:
            return False
        if status == ForwardMsg.FINISHED_WITH_COMPILE_ERROR:
            result.page_errors.append("script_finished: FINISHED_WITH_COMPILE_ERROR")
        return True
    return False


async def receive_until_finished(socket: ClientConnection, result: SessionResult) -> None:
    async for frame in socket:
        if isinstance(frame, str):
            result.transport_errors.append("server sent a text frame")
            return
        result.bytes_received += len(frame)
        message = ForwardMsg()
        message.ParseFromString(frame)
        if handle_message(message, result):
            return
    result.transport_errors.append("server closed the connection before script_finished")


@asynccontextmanager
async def open_tab(port: int, query_string: str, label: str, timeout: float) -> AsyncIterator[SessionResult]:
    """Open a tab on the app's default page with `query_string`; yield what its run showed.

    `timeout` bounds opening the socket plus the run. The socket stays open while the caller's
    `async with` body runs (a tab left open), and closes when it ends. Disconnects and timeouts
    do not raise: they are recorded in the result's `transport_errors`.
    """
    result = SessionResult(label)
    start = time.perf_counter()
    async with AsyncExitStack() as open_sockets:
        try:
            socket = await open_sockets.enter_async_context(connect(
                stream_url(port), subprotocols=[Subprotocol("streamlit")], max_size=MAX_FRAME_BYTES,
                proxy=None, ping_interval=None, open_timeout=timeout))
            result.connect_seconds = time.perf_counter() - start
            async with asyncio.timeout(max(timeout - result.connect_seconds, 0.0)):
                await socket.send(rerun_request(query_string, f"http://127.0.0.1:{port}/?{query_string}"))
                await receive_until_finished(socket, result)
            if not result.errors:
                result.seconds = time.perf_counter() - start
        except TimeoutError:
            result.transport_errors.append(f"timeout: no script_finished within {timeout:g} s")
        except (ConnectionClosed, InvalidHandshake, OSError) as error:
            result.transport_errors.append(f"disconnected: {type(error).__name__}: {error}"[:300])
        yield result
