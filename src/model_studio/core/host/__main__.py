"""``python -m model_studio.core.host --home HOME``: run the model host of a studio home.

Started by ``launcher.ensure_host`` (detached, output to ``<home>/host/host.log``); it writes
``host.json`` once it listens and stops cleanly on SIGTERM, SIGINT or ``POST /shutdown``.
"""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import logging
import os
import signal
import sys
import time

import psutil


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m model_studio.core.host", description=__doc__)
    ap.add_argument("--home", required=True, help="the studio home whose models this host holds")
    args = ap.parse_args(argv)
    os.environ["MODEL_STUDIO_HOME"] = args.home
    os.environ["MODEL_STUDIO_MODEL_HOST"] = "in_process"  # the host itself loads in process
    faulthandler.enable(file=sys.stderr)  # a native crash leaves its traceback in host.log
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return asyncio.run(_serve(args.home))


async def _serve(home: str) -> int:
    from pathlib import Path

    from tornado.httpserver import HTTPServer
    from tornado.netutil import bind_sockets

    from ..._version import __version__
    from .. import Engine
    from .files import HostFiles
    from .server import HostState, make_app

    log = logging.getLogger("model_studio.host")
    files = HostFiles(Path(home))
    secret = files.secret()
    engine = Engine()
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    state = HostState(engine, lambda: loop.call_soon_threadsafe(done.set))
    sockets = bind_sockets(0, "127.0.0.1")  # loopback only; the OS picks the port
    server = HTTPServer(make_app(state, secret), max_body_size=16 << 20)
    server.add_sockets(sockets)
    port = sockets[0].getsockname()[1]
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, done.set)
    previous = files.read_state()
    restarts = int(previous.get("restarts") or 0) + (1 if previous.get("state") == "crashed" else 0)
    record = {"state": "up", "pid": os.getpid(), "create_time": psutil.Process().create_time(), "port": port,
              "since": state.since, "version": __version__, "home": home, "restarts": restarts,
              "last_crash": previous.get("last_crash")}
    files.write_state(record)
    log.info("model host %s listening on 127.0.0.1:%d (pid %d, restarts %d)", __version__, port, os.getpid(),
             restarts)
    await done.wait()
    log.info("model host stopping")
    server.stop()
    try:
        await asyncio.to_thread(engine.close)
    except Exception:
        log.exception("closing the engine failed")
    current = files.read_state()
    if current.get("pid") == os.getpid():
        files.write_state({**record, "state": "down", "stopped_at": time.time()})
    log.info("model host stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
