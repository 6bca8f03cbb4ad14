"""Nicknames and bios hold visible text: invisible and control characters go, piles of combining
marks are cut, a name with nothing visible is refused, and names are screened like comments."""

from __future__ import annotations

import pytest

from tests.helpers.auth import bearer, register
from tests.helpers.profiles import json_of

ME = "/api/v1/me"
PROFILE = "/api/v1/me/profile"
# A term of the built-in word list, spelt with a Cyrillic "о" (U+043E) in each word.
HOMOGLYPH_SCAM = "d\u043euble y\u043eur bitc\u043ein"


@pytest.fixture
async def ann(api) -> dict[str, str]:
    data = await register(api, email="ann@example.com", nickname="Ann")
    return bearer(data["access_token"])


async def nickname_of(api, headers: dict[str, str]) -> str:
    return str((await json_of(await api.get(ME, headers=headers), 200))["nickname"])


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("Ann\u202eeil", "Anneil"),  # a right-to-left override
        ("\x00Ann\x07", "Ann"),  # NUL and BEL
        ("A\u200bn\u200dn\ufeff", "Ann"),  # zero-width space and joiner, byte order mark
        ("Ann\u2066ie\u2069", "Annie"),  # a bidi isolate and its end
        ("Ann\t\nLee\u2028", "Ann Lee"),  # control white space and a line separator
        ("Z" + "\u0336" * 12 + "oe", "Z\u0336\u0336\u0336oe"),  # a pile of overlays
        ("\u0301\u0301Ann", "Ann"),  # accents with no letter under them
        ("Cafe\u0301", "Caf\u00e9"),  # NFC: the accent joins its letter
        ("\ufe0fAnn\ufe0f\ufe0f", "Ann\ufe0f"),  # variation selectors on nothing, or doubled
        (
            "\U0001f468\u200d\U0001f469\u200d\U0001f467 Lee",
            "\U0001f468\u200d\U0001f469\u200d\U0001f467 Lee",
        ),
        ("\u5c0f\u660e\u200b", "\u5c0f\u660e"),  # Chinese kept, the zero-width space not
    ],
)
async def test_invisible_and_control_characters_are_taken_out_of_a_nickname(
    api, ann, sent: str, kept: str
) -> None:
    for path in (ME, PROFILE):
        await api.patch(ME, json={"nickname": "Ann"}, headers=ann)
        body = await json_of(await api.patch(path, json={"nickname": sent}, headers=ann), 200)
        assert body["nickname"] == kept, path
        assert await nickname_of(api, ann) == kept


@pytest.mark.parametrize(
    "sent",
    [
        "\u200b",
        "\u200b\u200c\u200d\u2060\ufeff",  # zero-width characters only
        "\u202e\u202d\u2066",  # bidi controls only
        "\x00",
        "\x00\x01\x1b",
        "\u3164\u3164",  # hangul fillers, drawn as blank
        "\u2800",  # the braille blank
        "\u0301\u0336",  # combining marks with no letter
        "\ufe0f",
        "\U000e0041\U000e007f",  # tag characters
        "\u200b \u200b",
    ],
)
async def test_a_nickname_with_nothing_visible_is_refused(api, ann, sent: str) -> None:
    for path in (ME, PROFILE):
        error = (await json_of(await api.patch(path, json={"nickname": sent}, headers=ann), 422))[
            "error"
        ]
        assert error["code"] == "users.nickname_invalid", (path, error)
        assert set(error["fields"]) == {"body.nickname"}
    assert await nickname_of(api, ann) == "Ann"


async def test_sign_up_cleans_the_nickname_and_refuses_an_invisible_one(api) -> None:
    data = await register(api, email="bob@example.com", nickname="\u202eBob\u200b")
    assert data["user"]["nickname"] == "Bob"
    refused = await register(api, 422, email="cy@example.com", nickname="\u200b\u202e\x00")
    assert refused["error"]["code"] == "users.nickname_invalid"
    assert set(refused["error"]["fields"]) == {"body.nickname"}


async def test_a_nickname_made_from_the_email_keeps_only_visible_characters(api) -> None:
    data = await register(api, email="d\u200bee\u202e@example.com")
    assert data["user"]["nickname"] == "dee"
    blank = await register(api, email="\u200b\u2060@example.com")
    assert blank["user"]["nickname"] == "user"


async def test_a_bio_keeps_its_lines_but_not_invisible_or_control_characters(api, ann) -> None:
    sent = "第一行\r\n第二\u202e行\x00\n\n\n\n末行\u200b  \r\n" + "Q" + "\u0336" * 9
    body = await json_of(await api.patch(PROFILE, json={"bio": sent}, headers=ann), 200)
    assert body["bio"] == "第一行\n第二行\n\n末行\nQ\u0336\u0336\u0336"
    cleared = await json_of(
        await api.patch(PROFILE, json={"bio": "\u200b\u202e"}, headers=ann), 200
    )
    assert cleared["bio"] is None


@pytest.mark.parametrize(
    "name", ["double your bitcoin", "DOUBLE your Bitcoin", HOMOGLYPH_SCAM, "刷单返利"]
)
async def test_a_nickname_with_a_listed_term_is_refused_as_a_comment_would_be(
    api, ann, name: str
) -> None:
    for path in (ME, PROFILE):
        error = (await json_of(await api.patch(path, json={"nickname": name}, headers=ann), 422))[
            "error"
        ]
        assert error["code"] == "moderation.flagged", (path, error)
        assert set(error["fields"]) == {"nickname"}
    assert await nickname_of(api, ann) == "Ann"
    refused = await register(api, 422, email="eve@example.com", nickname=name)
    assert refused["error"]["code"] == "moderation.flagged"


async def test_a_nickname_near_a_listed_term_is_kept(api, ann) -> None:
    for name in ("double your money", "bitcoin fan", "Дмитрий", "ΑΘΗΝΑ"):
        body = await json_of(await api.patch(ME, json={"nickname": name}, headers=ann), 200)
        assert body["nickname"] == name
