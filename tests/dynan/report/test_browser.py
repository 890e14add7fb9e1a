"""The index and a checkpoint page render in a real headless Chromium: every image decodes and
the console stays free of errors.

Chromium is driven over the Chrome DevTools Protocol with a minimal WebSocket client written on
the standard library (RFC 6455 framing: masked client text frames, unmasked server frames,
ping → pong), so no extra package is needed. Install the browser with
``apt-get install -y chromium`` (the Makefile's ``browser`` target, a step of ``make test``).
Without it these tests are skipped with that reason on a developer's machine, and fail in CI
(``CI`` set), where ``make test`` must have installed it.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import struct
import subprocess
import time
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"),
    reason="chromium is not installed (apt-get install -y chromium, or make browser)",
)

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--remote-debugging-port=0",
)


class _WebSocket:
    """Just enough RFC 6455 for CDP: text frames out (masked), frames in (unmasked)."""

    def __init__(self, url: str, *, timeout: float):
        assert url.startswith("ws://"), url
        host_port, _, path = url[len("ws://") :].partition("/")
        host, _, port = host_port.partition(":")
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET /{path} HTTP/1.1\r\nHost: {host_port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                raise ConnectionError("websocket handshake: connection closed")
            head += chunk
        status = head.split(b"\r\n", 1)[0]
        if b" 101 " not in status:
            raise ConnectionError(f"websocket handshake refused: {status!r}")

    def _exact(self, count: int) -> bytes:
        data = b""
        while len(data) < count:
            chunk = self.sock.recv(count - len(data))
            if not chunk:
                raise ConnectionError("websocket closed")
            data += chunk
        return data

    def _send(self, opcode: int, payload: bytes) -> None:
        length = len(payload)
        if length < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
        elif length < 2**16:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def send(self, text: str) -> None:
        self._send(0x1, text.encode())

    def receive(self) -> str:
        message = b""
        while True:
            first, second = self._exact(2)
            opcode, length = first & 0x0F, second & 0x7F
            if length == 126:
                (length,) = struct.unpack("!H", self._exact(2))
            elif length == 127:
                (length,) = struct.unpack("!Q", self._exact(8))
            payload = self._exact(length)
            if opcode == 0x9:
                self._send(0xA, payload)
            elif opcode == 0x8:
                raise ConnectionError("websocket closed by the browser")
            elif opcode in (0x0, 0x1):
                message += payload
                if first & 0x80:
                    return message.decode()

    def close(self) -> None:
        self.sock.close()


class _Browser:
    """Headless Chromium with one page target, its CDP events kept for inspection."""

    def __init__(self, profile: Path, *, timeout: float = 60.0):
        self.timeout = timeout
        if CHROMIUM is None:
            pytest.fail("chromium is not installed; in CI `make test` installs it (make browser)")
        self.process = subprocess.Popen(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while not (port_file.is_file() and len(port_file.read_text().split()) >= 2):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.quit()
                raise RuntimeError("chromium did not start its DevTools endpoint")
            time.sleep(0.1)
        port, path = port_file.read_text().split()[:2]
        self.ws = _WebSocket(f"ws://127.0.0.1:{port}{path}", timeout=timeout)
        self.events: list[dict] = []
        self._id = 0
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)[
            "sessionId"
        ]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable", session=True)

    def call(self, method: str, *, session: bool = False, **params) -> dict:
        self._id += 1
        message = {"id": self._id, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        self.ws.send(json.dumps(message))
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            reply = json.loads(self.ws.receive())
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self.events.append(reply)
        raise TimeoutError(method)

    def wait_for(self, event: str) -> None:
        if any(e.get("method") == event for e in self.events):
            return
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            message = json.loads(self.ws.receive())
            self.events.append(message)
            if message.get("method") == event:
                return
        raise TimeoutError(event)

    def open(self, path: Path) -> None:
        self.events.clear()
        self.call("Page.navigate", session=True, url=path.resolve().as_uri())
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression: str):
        result = self.call(
            "Runtime.evaluate", session=True, expression=expression, returnByValue=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"]["value"]

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and failed loads seen since the last ``open``."""
        out = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                out.append(str(params["exceptionDetails"].get("text")))
            elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
                out.append(" ".join(str(a.get("value")) for a in params.get("args", [])))
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                out.append(params["entry"]["text"])
        return out

    def quit(self) -> None:
        if getattr(self, "ws", None) is not None:
            self.ws.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    chromium = _Browser(tmp_path_factory.mktemp("chromium-profile"))
    yield chromium
    chromium.quit()


IMAGES = "Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth])"
SECTIONS = (
    "Array.from(document.querySelectorAll('section[data-section]')).map(s => s.dataset.section)"
)


def test_browser_index_links_load_without_errors(built_report, browser):
    summary, out, _ = built_report
    browser.open(out / "index.html")
    assert browser.errors() == []
    hrefs = browser.evaluate("Array.from(document.querySelectorAll('a')).map(a => a.href)")
    names = {Path(h.split("#")[0]).name for h in hrefs if h.startswith("file:")}
    assert {f"{p['name']}.html" for p in summary.pages} <= names


@pytest.mark.parametrize("page", ["arun-s0", "compare"])
def test_browser_page_every_image_loads_no_console_errors(built_report, browser, page):
    summary, out, _ = built_report
    browser.open(out / f"{page}.html")
    images = browser.evaluate(IMAGES)
    assert images, "the page has no images"
    broken = [alt for alt, complete, width in images if not complete or width <= 0]
    assert broken == []
    entry = next(p for p in summary.pages if p["name"] == page)
    assert browser.evaluate(SECTIONS) == [s["title"] for s in entry["sections"]]
    assert browser.errors() == []


def test_browser_reports_a_broken_image(tmp_path, browser):
    # the check itself must be able to fail: a page with an undecodable image
    page = tmp_path / "broken.html"
    page.write_text(
        '<!DOCTYPE html><html><head><link rel="icon" href="data:,"></head><body>'
        '<img alt="bad" src="data:image/png;base64,AAAA"><script>console.error("boom")</script>'
        "</body></html>"
    )
    browser.open(page)
    assert browser.evaluate(IMAGES) == [["bad", True, 0]]
    assert any("boom" in e for e in browser.errors())


# -- layout: nothing wider than its container at a 1400-px window -----------------------------

#: Elements wider than their container (by more than a pixel), outside scroll boxes, and the
#: tallest table row. A box that scrolls (overflow-x auto/scroll) may hold wider content: it
#: is the box that must fit.
OVERFLOW = """(() => {
  const scrolls = el => ['auto', 'scroll'].includes(getComputedStyle(el).overflowX);
  const bad = [];
  for (const el of document.querySelectorAll('main *')) {
    const parent = el.parentElement;
    if (!parent || el.closest('svg')) continue;
    let inside = false;
    for (let a = parent; a && a !== document.body; a = a.parentElement) {
      if (scrolls(a)) { inside = true; break; }
    }
    if (inside) continue;
    const box = el.getBoundingClientRect(), outer = parent.getBoundingClientRect();
    if (box.width > 0 && (box.right > outer.right + 1 || box.left < outer.left - 1)) {
      bad.push(el.tagName + '.' + el.className + ' ' + Math.round(box.width) + ' > ' +
               Math.round(outer.width));
    }
  }
  const rows = Array.from(document.querySelectorAll('tbody tr'));
  const line = parseFloat(getComputedStyle(document.body).fontSize) * 1.5;
  const tallest = Math.max(0, ...rows.map(r => r.getBoundingClientRect().height)) / line;
  const page = document.documentElement.scrollWidth - window.innerWidth;
  const tables = Array.from(document.querySelectorAll('.table-wrap')).map(
    w => [w.scrollWidth, w.clientWidth]);
  return {bad: bad.slice(0, 10), tallest: tallest, page: page, tables: tables};
})()"""

ZOO = Path(__file__).resolve().parents[3] / "reports" / "zoo"


def _layout(browser, path: Path) -> dict:
    browser.call(
        "Emulation.setDeviceMetricsOverride",
        session=True, width=1400, height=900, deviceScaleFactor=1, mobile=False,
    )  # fmt: skip
    browser.open(path)
    return browser.evaluate(OVERFLOW)


#: Tallest table row allowed, in lines of text: an index row is one line (a long page name may
#: wrap once); a page's tables may wrap a long explanation over a few lines.
TALLEST = {"index": 2.5, "page": 4.5}


@pytest.mark.parametrize("page", ["index", "arun-s0", "compare"])
def test_browser_layout_fits_a_1400px_window(built_report, browser, page):
    _, out, _ = built_report
    layout = _layout(browser, out / f"{page}.html")
    assert layout["bad"] == [] and layout["page"] <= 0, layout
    assert layout["tallest"] <= TALLEST["index" if page == "index" else "page"], layout


@pytest.mark.skipif(not (ZOO / "index.html").is_file(), reason="reports/zoo not built")
@pytest.mark.parametrize("page", ["index", "compare"])
def test_browser_zoo_tables_fit_without_scrolling(browser, page):
    # the committed zoo report: its tables fit the card outright at 1400 px
    layout = _layout(browser, ZOO / f"{page}.html")
    assert layout["bad"] == [] and layout["page"] <= 0, layout
    assert all(inner <= outer + 1 for inner, outer in layout["tables"]), layout
    assert layout["tallest"] <= TALLEST["index" if page == "index" else "page"], layout


def test_browser_layout_check_can_fail(tmp_path, browser):
    # a table too wide for its card, outside any scroll box, and a row many lines tall
    page = tmp_path / "wide.html"
    cells = "".join(f"<td>{'x' * 40}</td>" for _ in range(60))
    page.write_text(
        '<!DOCTYPE html><html><head><link rel="icon" href="data:,"></head><body><main>'
        f"<section><table><tbody><tr>{cells}</tr>"
        f"<tr><td>{'<br>'.join('line' for _ in range(8))}</td></tr></tbody></table></section>"
        "</main></body></html>"
    )
    layout = _layout(browser, page)
    assert layout["bad"] and layout["page"] > 0 and layout["tallest"] > max(TALLEST.values())
