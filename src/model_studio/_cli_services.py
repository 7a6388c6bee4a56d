"""``model-studio endpoints``, ``du`` and ``energy``: the commands over remote endpoints, disk use and
energy accounts (their arguments are declared in ``cli.build_parser``)."""

from __future__ import annotations

import os
import sys
from typing import Any

from ._cli_common import EXIT_ERROR, EXIT_OK, _emit_json
from ._format import human_size
from .errors import ValidationError


def cmd_endpoints(eng, args) -> int:
    """``model-studio endpoints list|add|update|test|rm``: remote serving engines (keys never printed)."""
    eps = eng.endpoints
    if args.action == "list":
        result: Any = eps.list(check=not args.no_check)
        if args.json:
            return _emit_json(result)
        for e in result:
            health = e.get("health") or {}
            state = health.get("status", "") + (f" ({len(health['models'])} models)" if health.get("models") else "")
            print(f"{e['name']:<16} {e['base_url']:<40} key {e['key_masked'] or '-':<10} {state}")
        if not result:
            print("no remote endpoints (model-studio endpoints add NAME URL --key-env VAR)")
        return EXIT_OK
    if not args.name:
        raise ValidationError(f"endpoints {args.action} needs the endpoint's NAME")
    if args.action == "rm":
        result = eps.remove(args.name)
    elif args.action == "test":
        result = eps.test(args.name)
    else:
        key = None
        if args.key_env:
            key = os.environ.get(args.key_env) or None
            if key is None:
                raise ValidationError(f"The environment variable {args.key_env} is not set")
        elif args.ask_key:
            import getpass

            key = getpass.getpass(f"API key of {args.name}: ")
        headers = dict(h.split(":", 1) for h in args.header) if args.header else None
        if headers is not None:
            headers = {k.strip(): v.strip() for k, v in headers.items()}
        options = {k: v for k, v in (("api_key", key), ("headers", headers), ("timeout", args.timeout),
                                     ("concurrency", args.concurrency)) if v is not None}
        if args.action == "add":
            if not args.url:
                raise ValidationError("endpoints add needs NAME and URL (the OpenAI base URL, e.g. http://gpu:8000/v1)")
            eps.add(args.name, args.url, **options)
        else:
            eps.update(args.name, base_url=args.url, **options)
        result = eps.test(args.name)
    if args.json:
        return _emit_json(result)
    if "status" in result:
        print(f"{args.name}: {result['status']}" + "".join(f"\n  {m}" for m in result["models"])
              + (f"\n  {result['error']['message']}" if result.get("error") else ""))
    else:
        print(f"removed {args.name}")
    return EXIT_OK if result.get("status", "ok") == "ok" else EXIT_ERROR
def cmd_du(eng, args) -> int:
    """``model-studio du``: bytes per store, duplicates, what could be freed; ``--free WHAT`` frees it."""
    from ._usage_text import disk_text

    if args.free:
        result = eng.disk.free(args.free, args.path, older_than_days=args.older_than)
        if args.json:
            return _emit_json(result)
        print(f"freed {human_size(result['bytes_freed'])} ({args.free})")
        return EXIT_OK
    report = eng.disk.report(duplicates=not args.no_duplicates, min_size=args.min_size,
                             older_than_days=args.older_than)
    if args.json:
        return _emit_json(report)
    print(disk_text(report))
    return EXIT_OK


def cmd_energy(eng, args) -> int:
    """``model-studio energy``: Wh and gCO2e over a period; ``--csv`` prints every row as CSV."""
    from ._usage_text import energy_text

    if args.csv:
        sys.stdout.write(eng.energy.export_csv(args.since, args.until, args.kind)["content"])
        return EXIT_OK
    summary = eng.energy.summary(args.since, args.until)
    if args.json:
        return _emit_json(summary)
    print(energy_text(summary))
    return EXIT_OK
