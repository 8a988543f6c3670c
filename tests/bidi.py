"""A minimal WebDriver BiDi client, enough to open a page in Debian's Firefox and read it back.

Firefox speaks BiDi itself (``--remote-debugging-port``); playwright drives
only its own patched Firefox build, which would have to be downloaded.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import tempfile


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def firefox(binary: str, url: str, checks: dict[str, str], action: str, after: str,
                  settle: float = 4.0) -> tuple[dict, list[str]]:
    """Open ``url``; after ``settle`` s evaluate ``checks``; run ``action``; after 2 s evaluate ``after``
    (as ``preview``).  Returns the values and the page's error log entries."""
    import websockets

    port = _free_port()
    profile = tempfile.mkdtemp(prefix="redact-ff-")
    proc = subprocess.Popen([binary, "--headless", "--remote-debugging-port", str(port), "--profile", profile,
                             "--window-size", "1400,900", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        ws = None
        for _ in range(150):
            try:
                ws = await websockets.connect(f"ws://127.0.0.1:{port}/session", max_size=None)
                break
            except OSError:
                await asyncio.sleep(0.2)
        assert ws is not None, "Firefox did not open its BiDi port"
        client = _Client(ws)
        await client.call("session.new", {"capabilities": {}})
        await client.call("session.subscribe", {"events": ["log.entryAdded"]})
        ctx = (await client.call("browsingContext.getTree", {}))["contexts"][0]["context"]
        await client.call("browsingContext.navigate", {"context": ctx, "url": url, "wait": "complete"})
        await asyncio.sleep(settle)
        got = {k: await client.value(ctx, expr) for k, expr in checks.items()}
        await client.value(ctx, action)
        await asyncio.sleep(2)
        got["preview"] = await client.value(ctx, after)
        await ws.close()
        return got, client.errors
    finally:
        proc.terminate()
        proc.wait(timeout=30)


class _Client:
    def __init__(self, ws):
        self.ws, self.n, self.errors = ws, 0, []

    async def call(self, method: str, params: dict) -> dict:
        self.n += 1
        await self.ws.send(json.dumps({"id": self.n, "method": method, "params": params}))
        while True:
            msg = json.loads(await self.ws.recv())
            if msg.get("method") == "log.entryAdded" and msg["params"].get("level") == "error":
                self.errors.append(msg["params"].get("text", ""))
            if msg.get("id") == self.n:
                if msg.get("type") == "error":
                    raise RuntimeError(f"{method}: {msg.get('error')}: {msg.get('message')}")
                return msg["result"]

    async def value(self, ctx: str, expression: str):
        r = await self.call("script.evaluate", {"expression": expression, "target": {"context": ctx},
                                                "awaitPromise": False})
        if r.get("type") == "exception":
            raise RuntimeError(f"{expression}: {r['exceptionDetails'].get('text')}")
        return r["result"].get("value")
