"""Shop-domain normalisation and the exact validation messages of product.md §10."""

from __future__ import annotations

import pytest

from engine.domain.domains import (
    HYPHEN,
    INVALID_FORMAT,
    REQUIRED,
    TOO_LONG,
    TOO_SHORT,
    DomainError,
    normalize_domain,
    validation_message,
)


@pytest.mark.parametrize(
    "text",
    ["mystore", "MyStore.myshopify.com", "https://mystore.myshopify.com/admin",
     "admin.shopify.com/store/mystore", "  https://admin.shopify.com/store/MyStore/apps  ",
     "mystore.myshopify.com/"],
)
def test_every_accepted_form_normalises(text: str) -> None:
    assert normalize_domain(text) == "mystore.myshopify.com"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", REQUIRED), ("   ", REQUIRED), (None, REQUIRED),
        ("shop.example.com", INVALID_FORMAT), ("my_store", INVALID_FORMAT),
        ("my store", INVALID_FORMAT), ("störe-name", INVALID_FORMAT),
        ("abc", TOO_SHORT), ("abc.myshopify.com", TOO_SHORT),
        ("a" * 61, TOO_LONG), ("-abcd", HYPHEN), ("abcd-", HYPHEN),
    ],
)
def test_invalid_forms_get_the_exact_message(text: str | None, message: str) -> None:
    with pytest.raises(DomainError) as raised:
        normalize_domain(text)
    assert str(raised.value) == message
    assert validation_message(text) == message


def test_limits_are_inclusive() -> None:
    assert normalize_domain("abcd") == "abcd.myshopify.com"
    assert normalize_domain("a" * 60) == "a" * 60 + ".myshopify.com"
    assert validation_message("abcd") is None
