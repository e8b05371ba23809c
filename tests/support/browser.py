"""Headless Chromium driven over the DevTools protocol, for tests of the pages the ledger serves.

The system's Chromium (``bash .ci/setup`` installs Debian's package when it is missing) is
started with a remote-debugging port, and one page is driven through its WebSocket with
aiohttp (already a dependency): navigate, evaluate JavaScript, wait for a condition, take a
screenshot. No browser is downloaded and nothing else is installed.
"""
from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"
START_TIMEOUT_S = 60.0


class Browser:
    """One headless Chromium with one page; ``close`` ends its whole process group."""

    def __init__(self, profile: Path, width: int = 1280, height: int = 1800) -> None:
        if not Path(CHROMIUM).exists():
            pytest.fail(f"Chromium is needed at {CHROMIUM}: `bash .ci/setup` installs it (apt-get install chromium)")
        self.process = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-dev-shm-usage", f"--window-size={width},{height}", "--remote-debugging-port=0",
             f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
        self.loop = asyncio.new_event_loop()
        self._next_id = 0
        try:
            port = self._devtools_port()
            self.loop.run_until_complete(self._connect(port))
            self.call("Page.enable")
            self.call("Runtime.enable")
        except BaseException:
            self.close()
            raise

    def _devtools_port(self) -> int:
        deadline = time.monotonic() + START_TIMEOUT_S
        seen = []
        while time.monotonic() < deadline:
            line = self.process.stderr.readline()
            if not line and self.process.poll() is not None:
                break
            seen.append(line)
            found = re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line)
            if found:
                return int(found.group(1))
        raise AssertionError("Chromium did not open its DevTools port:\n" + "".join(seen[-20:]))

    async def _connect(self, port: int) -> None:
        self.session = aiohttp.ClientSession()
        async with self.session.get(f"http://127.0.0.1:{port}/json/list") as response:
            targets = json.loads(await response.text())
        page = next(t for t in targets if t["type"] == "page")
        self.socket = await self.session.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0)

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one DevTools command and return its result (events in between are skipped)."""
        self._next_id += 1
        ident = self._next_id

        async def exchange() -> dict[str, Any]:
            await self.socket.send_str(json.dumps({"id": ident, "method": method, "params": params}))
            while True:
                message = json.loads((await self.socket.receive(timeout=60)).data)
                if message.get("id") == ident:
                    if "error" in message:
                        raise AssertionError(f"{method}: {message['error']}")
                    return message["result"]

        return self.loop.run_until_complete(exchange())

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout_s: float = 60.0, what: str = "") -> Any:
        """Evaluate ``expression`` until it is truthy; its value. Fails naming ``what`` if it never is."""
        deadline = time.monotonic() + timeout_s
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                error = self.evaluate("document.body && document.body.dataset.jsError || ''")
                status = self.evaluate("(document.getElementById('status') || {}).textContent || ''")
                raise AssertionError(f"the page never showed {what or expression} "
                                     f"(script error: {error!r}; status line: {status!r})")
            time.sleep(0.25)

    def open(self, url: str, timeout_s: float = 60.0) -> None:
        """Load ``url`` and wait until the page has drawn its data once (body data-ready)."""
        self.call("Page.navigate", url=url)
        self.wait_for("document.readyState === 'complete' && document.body.dataset.ready === '1'",
                      timeout_s, what=f"{url} drawn")

    def text(self, selector: str) -> str:
        return self.evaluate(f"(document.querySelector({json.dumps(selector)}) || {{}}).textContent || ''")

    def screenshot(self, path: Path) -> Path:
        data = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        async def shut() -> None:
            if getattr(self, "socket", None) is not None:
                await self.socket.close()
            if getattr(self, "session", None) is not None:
                await self.session.close()

        try:
            self.loop.run_until_complete(shut())
        finally:
            self.loop.close()
            if self.process.poll() is None:
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
            self.process.stderr.close()
