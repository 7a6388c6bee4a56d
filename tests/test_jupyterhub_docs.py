"""docs/jupyterhub.md's configuration is real: its two config files run with a traitlets ``Config`` as
``c``, every key they set is a configurable trait of the class it names, the spawner environment names
the studio's variables (and its per-user callables give per-user paths), the custom scopes and role
scopes pass JupyterHub's own checks, and ``ScopedHubAuthorizer`` with those roles lets a viewer read
the studio but not write or execute, while the owner may do all three."""

from __future__ import annotations

import copy
import re
import types
from pathlib import Path

import pytest
from traitlets import HasTraits
from traitlets.config import Config

from model_studio.config import SETTING_ENV, Settings

jupyterhub = pytest.importorskip("jupyterhub", reason="docs/jupyterhub.md is checked against JupyterHub's traits")

from jupyter_server.serverapp import ServerApp  # noqa: E402
from jupyterhub import scopes as hub_scopes  # noqa: E402
from jupyterhub.app import JupyterHub  # noqa: E402
from jupyterhub.spawner import Spawner  # noqa: E402

DOC = Path(__file__).resolve().parents[1] / "docs" / "jupyterhub.md"
CLASSES = {"JupyterHub": JupyterHub, "Spawner": Spawner, "ServerApp": ServerApp, "Settings": Settings}


def _block(name: str) -> str:
    """The fenced python block of the doc whose first line is ``# <name>``."""
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    found = [b for b in blocks if b.startswith(f"# {name}\n")]
    assert len(found) == 1, f"docs/jupyterhub.md should hold one block starting '# {name}'"
    return found[0]


def _run(name: str) -> Config:
    c = Config()
    exec(compile(_block(name), f"docs/jupyterhub.md:{name}", "exec"), {"get_config": lambda: c})
    return c


def _check_traits(c: Config, sections: set[str]) -> None:
    assert set(c) == sections
    for section, values in c.items():
        cls = CLASSES[section]
        configurable = set(cls.class_trait_names(config=True))
        unknown = set(values) - configurable
        assert not unknown, f"{section} has no configurable {sorted(unknown)}"
        for key, value in values.items():  # each value is one the trait accepts (else TraitError)
            probe = type("Probe", (HasTraits,), {key: copy.deepcopy(cls.class_traits()[key])})()
            setattr(probe, key, value)


def test_the_hub_config_sets_real_traits_and_the_studio_environment():
    c = _run("jupyterhub_config.py")
    _check_traits(c, {"JupyterHub", "Spawner"})
    env = c.Spawner.environment
    studio_vars = {var for names in SETTING_ENV.values() for var in names}
    assert {"MODEL_STUDIO_SHARED_MODEL_DIRS", "MODEL_STUDIO_HOME", "HF_HUB_CACHE"} <= set(env) <= studio_vars | {
        "JUPYTERHUB_SINGLEUSER_EXTENSION"}
    # the per-user values are callables of the spawner, as Spawner.environment allows
    spawner = types.SimpleNamespace(user=types.SimpleNamespace(name="alice"))
    assert env["MODEL_STUDIO_HOME"](spawner) == "/home/alice/.cache/model-studio"
    assert env["HF_HUB_CACHE"](spawner) == "/home/alice/.cache/huggingface/hub"
    # and the studio reads the shared folders from that variable, as absolute paths
    assert env["MODEL_STUDIO_SHARED_MODEL_DIRS"].split(":") == ["/srv/models/hf-cache", "/srv/models/gguf"]


def test_the_hub_scopes_and_roles_pass_jupyterhubs_checks(monkeypatch: pytest.MonkeyPatch):
    c = _run("jupyterhub_config.py")
    monkeypatch.setattr(hub_scopes, "scope_definitions", dict(hub_scopes.scope_definitions))
    hub_scopes.define_custom_scopes(c.JupyterHub.custom_scopes)  # raises on a bad name or definition
    for role in c.JupyterHub.load_roles:
        hub_scopes._check_scopes_exist(role["scopes"], who_for=f"role {role['name']}")
    hub_scopes._check_scopes_exist(c.Spawner.oauth_client_allowed_scopes, who_for="the spawner")


def test_the_server_config_sets_real_traits_and_the_studio_reads_it(monkeypatch: pytest.MonkeyPatch):
    c = _run("jupyter_server_config.py")
    _check_traits(c, {"ServerApp", "Settings"})
    from model_studio.server.hub import ScopedHubAuthorizer

    module, name = c.ServerApp.authorizer_class.rsplit(".", 1)
    assert getattr(__import__(module, fromlist=[name]), name) is ScopedHubAuthorizer
    assert c.ServerApp.jpserver_extensions == {"model_studio": True}
    settings = Settings(config=c)
    assert settings.shared_model_dirs == ["/srv/models/hf-cache", "/srv/models/gguf"]
    assert settings.source("shared_model_dirs") == "config" and settings.idle_ttl == 900.0


def _hub_user(c: Config, role_names: list[str], name: str) -> dict:
    """A user's scopes as the hub hands them to the server: the roles' scopes, ``!user`` resolved to the
    user, custom subscopes expanded (JupyterHub expands them before they reach the server)."""
    granted: set[str] = set()
    for role in c.JupyterHub.load_roles:
        if role["name"] in role_names:
            granted |= {s.replace("!user", f"!user={name}") if s.endswith("!user") else s for s in role["scopes"]}
    expanded = set(granted)
    for scope in granted:
        base, _, flt = scope.partition("!")
        for sub in c.JupyterHub.custom_scopes.get(base, {}).get("subscopes", []):
            expanded.add(sub + (f"!{flt}" if flt else ""))
    return {"name": name, "scopes": sorted(expanded | {"access:servers!user=alice"})}


@pytest.mark.filterwarnings("ignore:HubAuth.oauth_scopes is deprecated:DeprecationWarning")  # JupyterHub's own call
@pytest.mark.parametrize("who,roles,allowed", [
    ("alice", ["user"], {"read", "write", "execute"}),  # the owner
    ("vera", ["user", "studio-viewer"], {"read"}),  # a viewer: her own rights don't reach alice's server
    ("bob", ["user"], set()),  # another user, no role on alice's server
])
def test_the_scoped_authorizer_grants_what_the_roles_say(monkeypatch, who, roles, allowed):
    from model_studio.server.hub import ScopedHubAuthorizer

    c = _run("jupyterhub_config.py")
    monkeypatch.setenv("JUPYTERHUB_USER", "alice")
    monkeypatch.setenv("JUPYTERHUB_SERVER_NAME", "")
    hub_user = _hub_user(c, roles, who)
    if who == "bob":
        hub_user["scopes"].remove("access:servers!user=alice")
    user = types.SimpleNamespace(username=who, hub_user=hub_user)
    from jupyterhub.services.auth import HubAuth

    hub_auth = HubAuth(api_token="unused", access_scopes={"access:servers!user=alice"})
    monkeypatch.setattr(ScopedHubAuthorizer, "hub_auth", property(lambda self: hub_auth))
    authorizer = ScopedHubAuthorizer()
    got = {a for a in ("read", "write", "execute") if authorizer.is_authorized(None, user, a, "model-studio")}
    assert got == allowed
    # the viewer's scope is the studio only: not the server's files or kernels
    if who == "vera":
        assert not authorizer.is_authorized(None, user, "read", "contents")
