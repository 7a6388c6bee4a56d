"""Helpers for the studio's JupyterLab shell: main-area panels opened from the sidebar, the launcher,
the command palette."""

from __future__ import annotations

MAIN = "#jp-main-dock-panel"
SIDEBAR = "#model-studio-sidebar"


def tid(value: str) -> str:
    return f'[data-testid="{value}"]'


def show_sidebar(page) -> None:
    """Reveal the sidebar (the `model-studio:open` command: unlike its icon, it never folds it away),
    once the lab has restored its layout."""
    page.evaluate("async () => { await window.jupyterapp.restored; }")
    page.evaluate("() => { window.jupyterapp.commands.execute('model-studio:open'); }")
    page.wait_for_selector(f"{SIDEBAR} {tid('model-studio')}", timeout=30_000)


def panel(kind: str) -> str:
    """The selector of the shown main-area panel of ``kind`` (chat, training, video)."""
    return f"{MAIN} .jp-ModelStudio-main:not(.lm-mod-hidden) {tid('studio-panel-' + kind)}"


def open_from_sidebar(page, kind: str) -> str:
    """Open a view with the sidebar's button (Chat, Fine-tune, Video): a main-area panel."""
    show_sidebar(page)
    page.click(f"{SIDEBAR} {tid('sidebar-open-' + kind)}")
    page.wait_for_selector(panel(kind), timeout=30_000)
    return panel(kind)


def studio_panels(page, kind: str) -> int:
    return page.locator(f"{MAIN} {tid('studio-panel-' + kind)}").count()
