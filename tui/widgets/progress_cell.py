"""Progress as text: the bar in a Syncing row, and the Content → Rich bridge for tables.

DataTable cells are Rich renderables, and Textual `Content` styles may name theme variables
(`$text-success`), which Rich cannot resolve; `to_rich` renders a Content through Textual's
style parser (which reads the running app's theme variables), so a table cell gets the same
colours as the rest of the UI.
"""

from __future__ import annotations

from rich.style import Style as RichStyle
from rich.text import Text
from textual.content import Content
from textual.style import Style

FULL = "█"
EMPTY = "░"


def progress_bar(done: int, total: int | None, width: int = 10) -> Content:
    """"██████░░░░  60%" (or "4,500 so far" when the total is unknown), `width` cells of bar."""
    if not total:
        return Content.styled(f"{done:,} so far", "$text-primary")
    fraction = max(0.0, min(1.0, done / total))
    filled = round(fraction * width)
    percent = int(fraction * 100)
    return Content.assemble(
        (FULL * filled, "$text-primary"),
        (EMPTY * (width - filled), "$foreground-muted"),
        f" {percent:>3}%",
    )


def to_rich(value: Content, base: Style | None = None) -> Text:
    """`value` as a Rich Text, theme variables resolved against the running app's theme.

    Translucent colours (`$foreground-muted`) are blended over `base`'s background (the widget's
    `visual_style`), but no background is set, so a table's cursor row still shows through.
    """
    text = Text(end="", no_wrap=True, overflow="ellipsis")
    for part, style in value.render(end=""):
        if not style:
            text.append(part)
            continue
        rich = (base + style).rich_style if base is not None else style.rich_style
        text.append(part, RichStyle(
            color=rich.color, bold=rich.bold, dim=rich.dim, italic=rich.italic,
            underline=rich.underline, strike=rich.strike, reverse=rich.reverse,
        ))
    return text
