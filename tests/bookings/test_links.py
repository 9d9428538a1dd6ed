"""The scheduling link: the event type's own, with the booking id as `utm_content`."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from gateway.admin.bookings import scheduling_link


def test_the_link_keeps_its_parameters_and_carries_the_booking() -> None:
    link = scheduling_link(
        "https://calendly.com/acme/intro?month=2030-03&utm_content=old", "bkg_1", "Ada L", "a@x.org"
    )
    parts = urlsplit(link)
    assert (parts.netloc, parts.path) == ("calendly.com", "/acme/intro")
    assert parse_qs(parts.query) == {
        "month": ["2030-03"],
        "utm_content": ["bkg_1"],
        "name": ["Ada L"],
        "email": ["a@x.org"],
    }
