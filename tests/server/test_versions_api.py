"""REST: ``GET /system/versions`` answers what the engine reports, as the documented schema."""

from __future__ import annotations

import json

from tests.test_versions import check


async def test_system_versions_route(api):
    import jsonschema

    from model_studio.server.handlers import OPENAPI_PATH

    r = await api("GET", "system/versions")
    assert r.code == 200, r
    check(r.json)
    doc = json.loads(OPENAPI_PATH.read_text())
    schema = doc["paths"]["/system/versions"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    jsonschema.Draft202012Validator({**schema, "components": doc["components"]}).validate(r.json)
    # Unknown parameters are refused, as on every operation
    r = await api("GET", "system/versions", params={"refresh": "1"})
    assert r.code == 400, r
