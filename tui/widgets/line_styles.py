"""A line of Content drawn as segments, with the styles of its spans kept between lines.

`Content.render` works out every span's style again for every line it renders (the CSS
variables of each span's style parsed, then combined with the base style into a new Style whose
Rich style is converted anew), which was about half the CPU of drawing a screenful of cards or
table rows, the bulk of the dashboard's first frame. The card grid and the fleet table draw
lines whose spans follow one another (a line is pieces joined end to end), so each span is a
piece of text in the base style plus its own: `LineStyles` keeps that combined Rich style per
(span style, base style, theme) and builds the same segments `Content.render` would. A line
whose spans overlap or are out of order is rendered by `Content.render`.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.segment import Segment
from rich.style import Style as RichStyle
from textual.content import Content
from textual.style import Style

MEMO_SIZE = 512  # combined styles kept: a theme has a few dozen spans' styles per base


class LineStyles:
    """Combined span styles, kept for the lines of one widget (see the module docstring)."""

    def __init__(self) -> None:
        self._memo: dict[tuple[str | Style, Style, str], RichStyle] = {}

    def clear(self) -> None:
        """Forget the styles (the CSS changed)."""
        self._memo.clear()

    def segments(self, line: Content, base: Style, parse: Callable[[str | Style], Style],
                 theme: str) -> list[Segment]:
        """`line` as segments over `base`, its spans' styles resolved by `parse`."""
        spans = line.spans
        text = line.plain
        plain = base.rich_style
        if not spans:
            return [Segment(text, plain)]
        position = 0
        for span in spans:
            if span.start < position or span.end < span.start:
                return [Segment(part_text, part.rich_style) for part_text, part
                        in line.render(base, end="", parse_style=parse)]
            position = span.end
        memo = self._memo
        segments = []
        position = 0
        for start, end, style in spans:
            if start > position:
                segments.append(Segment(text[position:start], plain))
            if end > start:
                key = (style, base, theme)
                rich = memo.get(key)
                if rich is None:
                    if len(memo) >= MEMO_SIZE:
                        memo.clear()
                    span_style = parse(style) if isinstance(style, str) else style
                    rich = memo[key] = Style.combine([base, span_style]).rich_style
                segments.append(Segment(text[start:end], rich))
            position = end
        if position < len(text):
            segments.append(Segment(text[position:], plain))
        return segments

    def pieces(self, line: list[tuple[str, str]], base: Style,
               parse: Callable[[str | Style], Style], theme: str) -> list[Segment]:
        """A line of (text, style) pieces laid end to end (tui/widgets/store_card.py) as the
        segments `segments` gives for the Content with those spans: each styled piece a
        segment, the unstyled text between them one segment in the base style."""
        memo = self._memo
        plain = base.rich_style
        segments = []
        gap = ""
        for text, style in line:
            if not style:
                gap += text
                continue
            if not text:
                continue
            if gap:
                segments.append(Segment(gap, plain))
                gap = ""
            key = (style, base, theme)
            rich = memo.get(key)
            if rich is None:
                if len(memo) >= MEMO_SIZE:
                    memo.clear()
                rich = memo[key] = Style.combine([base, parse(style)]).rich_style
            segments.append(Segment(text, rich))
        if gap:
            segments.append(Segment(gap, plain))
        return segments
