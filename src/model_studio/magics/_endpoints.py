"""``%studio endpoints``: remote serving engines (list with health, add, update, test, rm).

The API key never goes on the command line (a notebook would keep it in its source): ``--key-env VAR``
reads it from the kernel's environment, ``--ask-key`` asks for it without echo.
"""

from __future__ import annotations

import getpass
import os
from typing import Any

from .._views import Table, TextView
from ..errors import ValidationError
from ._base import Handlers
from ._commands import EndpointsArgs


def _health_text(health: dict[str, Any]) -> str:
    if health["status"] == "ok":
        return f"ok · {len(health['models'])} model(s)"
    return f"{health['status']}: {(health.get('error') or {}).get('message', '')}"


class EndpointHandlers(Handlers):
    def _api_key(self, args: EndpointsArgs) -> str | None:
        if args.key_env:
            key = os.environ.get(args.key_env)
            if not key:
                raise ValidationError(f"The environment variable {args.key_env} is not set",
                                      details={"variable": args.key_env})
            return key
        if args.ask_key:
            return getpass.getpass(f"API key of {args.name}: ")
        return None

    def handle_endpoints(self, args: EndpointsArgs) -> Any:
        eps = self._engine().endpoints
        if args.action == "list":
            rows = [(e["name"], e["base_url"], e["key_masked"] or "-", f"{e['timeout']:g}", e["concurrency"],
                     _health_text(e["health"])) for e in eps.list(check=True)]
            return Table(("name", "base URL", "key", "timeout s", "concurrency", "health"), rows,
                         empty="no remote endpoints: %studio endpoints add NAME URL --key-env VAR")
        if not args.name:
            raise ValidationError(f"%studio endpoints {args.action} needs the endpoint's NAME")
        if args.action == "rm":
            eps.remove(args.name)
            return TextView(f"removed endpoint {args.name}")
        if args.action == "test":
            health = eps.test(args.name)
            lines = [f"{args.name}: {_health_text(health)}", *(f"  {m}" for m in health["models"])]
            return TextView("\n".join(lines))
        options = {k: v for k, v in (("timeout", args.timeout), ("concurrency", args.concurrency),
                                     ("api_key", self._api_key(args))) if v is not None}
        if args.action == "add":
            if not args.url:
                raise ValidationError("%studio endpoints add needs NAME and URL (the OpenAI base URL)")
            eps.add(args.name, args.url, **options)
        else:
            eps.update(args.name, base_url=args.url, **options)
        health = eps.test(args.name)
        return TextView(f"endpoint {args.name} saved; {_health_text(health)}"
                        + "".join(f"\n  {m}" for m in health["models"]))
