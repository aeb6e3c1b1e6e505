"""tui.safe_text: untrusted text reaches the terminal as literal, printable characters."""

from __future__ import annotations

from rich.console import Console

from tui.safe_text import REPLACEMENT, content, plain, safe


def test_printable_text_is_returned_unchanged() -> None:
    text = "Café Crème Zürich [bold]"
    assert safe(text) is text


def test_escape_sequences_become_visible_control_pictures() -> None:
    assert safe("a\x1b[31mred\x1b[0m") == "a␛[31mred␛[0m"
    assert safe("bell\x07") == "bell␇"
    assert safe("del\x7f") == "del␡"


def test_c1_controls_and_unassigned_code_points_are_replaced() -> None:
    assert safe("csi\x9b31m") == f"csi{REPLACEMENT}31m"
    assert safe("\U000e0fff") == REPLACEMENT  # unassigned
    assert safe("\ue000") == REPLACEMENT  # private use


def test_bidi_overrides_and_zero_width_format_characters_are_dropped() -> None:
    assert safe("abc\u202edef\u200b") == "abcdef"


def test_line_breaks_become_spaces_unless_multiline() -> None:
    assert safe("one\ntwo\r\tthree\u2028four") == "one two  three four"
    assert safe("one\ntwo", multiline=True) == "one\ntwo"


def test_none_and_non_strings() -> None:
    assert safe(None) == ""
    assert safe(42) == "42"


def test_plain_is_never_markup_parsed() -> None:
    text = plain("[bold red]x[/]")
    assert text.plain == "[bold red]x[/]"
    assert not text.spans
    console = Console(record=True, width=40, force_terminal=True, color_system="truecolor")
    console.print(plain("[bold red]x[/] \x1b[2J"))
    output = console.export_text()
    assert "[bold red]x[/]" in output
    assert "\x1b[2J" not in console.export_text(styles=True)


def test_content_keeps_brackets_and_applies_only_the_given_style() -> None:
    value = content("[link=http://evil]click[/link]", "bold")
    assert value.plain == "[link=http://evil]click[/link]"
    assert [span.style for span in value.spans] == ["bold"]
