"""The running ShopsyncApp, typed, for screens and widgets.

Textual types `self.app` as a plain App; the screens run inside ShopsyncApp and call its own
methods (request_action, runtime), so they reach it through `shopsync_app(self)`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual.dom import DOMNode

if TYPE_CHECKING:
    from tui.app import ShopsyncApp


def shopsync_app(node: DOMNode) -> ShopsyncApp:
    return cast("ShopsyncApp", node.app)
