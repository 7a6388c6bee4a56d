"""JupyterHub: an Authorizer that reads each action's permission from JupyterHub custom scopes.

Under JupyterHub, a user's Jupyter server asks its Authorizer before every studio route, with the
operation's action (``read``, ``write`` or ``execute``, see ``api.Operation``) on the resource
``model-studio``. JupyterHub's own ``JupyterHubAuthorizer`` allows every action to anyone who may
reach the server (``access:servers``). This one also requires a custom scope naming the action:

    custom:jupyter_server:<action>:<resource>   e.g. custom:jupyter_server:read:model-studio
    custom:jupyter_server:<action>:*            every resource of the server (files, kernels, the studio)

filtered to this server's owner (``!user=<owner>``) or to this server (``!server=<owner>/<name>``), as
JupyterHub's read-only example does (the scope names follow JupyterHub's convention
``custom:$project:$action:$resource``). The hub defines the scopes (``c.JupyterHub.custom_scopes``,
execute including write and read) and grants them with roles; see docs/jupyterhub.md.

Configure it in the single-user server: ``c.ServerApp.authorizer_class =
"model_studio.server.hub.ScopedHubAuthorizer"`` (needs ``jupyterhub`` in the user's environment, as
every JupyterHub single-user server does).
"""

from __future__ import annotations

import os
from typing import Any

from jupyterhub.services.auth import check_scopes
from jupyterhub.singleuser.extension import JupyterHubAuthorizer

SCOPE_PREFIX = "custom:jupyter_server"


def required_scopes(action: str, resource: str, owner: str, server: str = "") -> set[str]:
    """The scopes any one of which allows ``action`` on ``resource`` of ``owner``'s server ``server``."""
    filters = (f"!user={owner}", f"!server={owner}/{server}")
    return {f"{SCOPE_PREFIX}:{action}:{what}{f}" for what in (resource, "*") for f in filters}


def allowed(scopes: set[str] | list[str], action: str, resource: str, owner: str, server: str = "") -> bool:
    """Whether a user holding ``scopes`` (as JupyterHub resolved them) may do ``action`` on ``resource``."""
    return bool(check_scopes(required_scopes(action, resource, owner, server), set(scopes)))


class ScopedHubAuthorizer(JupyterHubAuthorizer):  # type: ignore[misc]
    """``JupyterHubAuthorizer`` plus a custom scope per action and resource (``custom:jupyter_server:…``)."""

    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        if not super().is_authorized(handler, user, action, resource):  # access:servers first
            return False
        owner = os.environ.get("JUPYTERHUB_USER", "")
        server = os.environ.get("JUPYTERHUB_SERVER_NAME", "")
        granted = allowed(user.hub_user.get("scopes", []), action, resource, owner, server)
        self.log.debug("%s may%s %s %s", user.username, "" if granted else " not", action, resource)
        return granted
