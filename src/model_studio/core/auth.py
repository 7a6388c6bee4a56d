"""The Hugging Face login: a token checked with the Hub's ``whoami``, saved where huggingface_hub saves it.

The token file is huggingface_hub's own (``$HF_HOME/token``, see ``config.hf_token_path``), so
``hf auth login`` and the studio share one login; it is written atomically with mode 0600. The file's
path is read at call time, not from huggingface_hub's import-time constants, so a test's temporary
``HF_HOME`` holds the test's token. ``HF_TOKEN`` (Settings.hf_token), when set, wins over the file,
as it does for huggingface_hub; logout then cannot remove it and says so.

The token never leaves this module in a result, an error or a log line: results show it masked
(``hf_…abcd``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..config import hf_token_path
from ..errors import NetworkError, StudioError, ValidationError
from .private_file import write_private

if TYPE_CHECKING:
    from .hub import HubClient

MAX_TOKEN_CHARS = 1024


def saved_token() -> str | None:
    """The token saved by a login (``$HF_HOME/token``), or None."""
    try:
        token = hf_token_path().read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return token or None


def mask(token: str | None) -> str | None:
    """``hf_…abcd``: the prefix and the last four characters (fewer for a short token)."""
    if not token:
        return None
    if len(token) < 12:
        return "…" + token[-2:]
    return f"{token[:3]}…{token[-4:]}"


def _check_shape(token: Any) -> str:
    if not isinstance(token, str) or not token.strip():
        raise ValidationError("Give a Hugging Face access token", details={"parameter": "token"},
                              resolution_steps=["Create one at https://huggingface.co/settings/tokens"])
    token = token.strip()
    if len(token) > MAX_TOKEN_CHARS or any(not 33 <= ord(c) < 127 for c in token):  # an HTTP header's ASCII
        # Never echoed back: a token pasted with a typo is still a secret.
        raise ValidationError("This is not a Hugging Face access token (too long, or spaces, control or "
                              "non-ASCII characters in it)", details={"parameter": "token"},
                              resolution_steps=["Copy the token again from https://huggingface.co/settings/tokens"])
    return token


class HubAuth:
    """Status, login and logout of the Hugging Face account the engine's Hub calls use."""

    def __init__(self, hub: HubClient) -> None:
        self.hub = hub

    # whoami ----------------------------------------------------------------------------------

    def whoami(self, token: str) -> dict[str, Any]:
        """The Hub's ``/api/whoami-v2`` for ``token``, with the HubClient's timeouts and breaker.

        A refused token is a ValidationError (400: the input is wrong, the studio's own login is fine);
        an unreachable Hub a NetworkError.
        """
        from huggingface_hub import get_session
        from huggingface_hub.utils import build_hf_headers

        url = f"{self.hub.endpoint}/api/whoami-v2"
        headers = build_hf_headers(token=token, library_name="model-studio")
        with self.hub.metadata_call("check the Hugging Face token"):
            response = get_session().get(url, headers=headers, timeout=self.hub.timeout)
            if response.status_code in (401, 403):
                raise ValidationError("The Hub did not accept this token (invalid or revoked)",
                                      details={"parameter": "token", "status": response.status_code},
                                      resolution_steps=["Create a new token at https://huggingface.co/settings/tokens "
                                                        "and paste it again"])
            if response.status_code >= 400:
                raise NetworkError(f"The Hub answered HTTP {response.status_code} to whoami",
                                   details={"status": response.status_code},
                                   resolution_steps=["Try again in a moment"])
            try:
                data = response.json()
            except ValueError:
                raise NetworkError("The Hub's whoami answer is not JSON", details={}) from None
        if not isinstance(data, dict):
            raise NetworkError("The Hub's whoami answer is not an object", details={})
        return data

    # status, login, logout ---------------------------------------------------------------------

    def status(self, *, check: bool = True) -> dict[str, Any]:
        """Who is logged in: the token's source (``env``: HF_TOKEN, ``file``: a saved login, or None),
        the token masked, and (``check``) the user name from ``whoami``; ``error`` says why the
        check failed (an unreachable Hub, a revoked token) without failing the call."""
        env = self.hub.settings.hf_token
        token = env or saved_token()
        out: dict[str, Any] = {
            "logged_in": bool(token), "source": ("env" if env else "file") if token else None,
            "token_masked": mask(token), "token_path": str(hf_token_path()), "user": None,
            "fullname": None, "orgs": [], "token_role": None, "endpoint": self.hub.endpoint,
            "valid": None, "error": None,
        }
        if token and check and not self.hub.settings.offline:
            try:
                out.update(self._who(self.whoami(token)))
                out["valid"] = True
            except ValidationError as exc:
                out["valid"] = False
                out["error"] = exc.to_dict()["error"]
            except StudioError as exc:  # the Hub is down: the login may still be fine
                out["error"] = exc.to_dict()["error"]
        return out

    @staticmethod
    def _who(data: dict[str, Any]) -> dict[str, Any]:
        access = ((data.get("auth") or {}).get("accessToken") or {}) if isinstance(data.get("auth"), dict) else {}
        orgs = [o.get("name") for o in data.get("orgs") or [] if isinstance(o, dict) and o.get("name")]
        return {"user": data.get("name"), "fullname": data.get("fullname"), "orgs": orgs,
                "token_role": access.get("role") if isinstance(access, dict) else None}

    def login(self, token: Any) -> dict[str, Any]:
        """Check ``token`` with whoami, then save it as huggingface_hub's login; nothing is saved
        when the Hub refuses it."""
        token = _check_shape(token)
        self.hub.require_online("log in to the Hub")
        who = self.whoami(token)
        _write_token(token)
        out = self.status(check=False)
        out.update(self._who(who))
        out["valid"] = True
        if self.hub.settings.hf_token:
            out["warning"] = ("HF_TOKEN is set in the server's environment and is used instead of the saved "
                              "login until it is unset")
        return out

    def logout(self) -> dict[str, Any]:
        """Delete the saved token file. ``HF_TOKEN`` from the environment cannot be removed here."""
        path = hf_token_path()
        existed = path.is_file()
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise StudioError(f"Could not delete the saved token ({exc.strerror})",
                              details={"path": str(path)}) from None
        out = self.status(check=False)
        out["removed"] = existed
        if self.hub.settings.hf_token:
            out["warning"] = "HF_TOKEN is set in the server's environment; unset it to log out completely"
        return out


def _write_token(token: str) -> None:
    """Save ``token`` as huggingface_hub does (the bare token in ``$HF_HOME/token``), atomically, mode 0600."""
    write_private(hf_token_path(), token, 0o600)
