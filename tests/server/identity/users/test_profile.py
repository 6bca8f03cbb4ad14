"""GET and PATCH /api/v1/me/profile: the whole profile with preferences and privacy settings."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from server.identity.users.schemas import Preferences, Privacy, zodiac_of
from tests.helpers.profiles import Person, column, json_of, set_columns, sign_up

PROFILE = "/api/v1/me/profile"
DEFAULT_PREFERENCES = {
    "language": "zh-CN",
    "theme": "system",
    "content_kinds": ["article", "audio", "video", "course"],
    "email_digest": True,
}
DEFAULT_PRIVACY = {
    "who_can_message": "everyone",
    "show_followers": True,
    "show_following": True,
    "searchable": True,
    "show_birthday": False,
}


@pytest.fixture
async def ann(api) -> Person:
    return await sign_up(api, "Ann")


async def patch(api, person: Person, body: dict[str, Any], status: int = 200) -> Any:
    return await json_of(await api.patch(PROFILE, json=body, headers=person.headers), status)


async def test_a_new_profile_shows_every_default(api, ann) -> None:
    body = await json_of(await api.get(PROFILE, headers=ann.headers), 200)
    assert body["id"] == ann.id and body["nickname"] == "Ann"
    assert {
        k: body[k] for k in ("bio", "birthday", "mbti", "zodiac", "avatar_url")
    } == dict.fromkeys(("bio", "birthday", "mbti", "zodiac", "avatar_url"))
    assert body["gender"] == "unspecified"
    assert body["preferences"] == DEFAULT_PREFERENCES
    assert body["privacy"] == DEFAULT_PRIVACY
    assert (body["follower_count"], body["following_count"]) == (0, 0)
    assert body["roles"] == ["reader"]


async def test_patch_sets_every_field_and_answers_the_full_profile(api, ann) -> None:
    body = await patch(
        api,
        ann,
        {
            "nickname": " Annie ",
            "bio": "  Reads everything.  ",
            "gender": "female",
            "birthday": "1990-07-30",
            "mbti": "infp",
            "preferences": {"language": "en", "theme": "dark", "content_kinds": ["audio"]},
            "privacy": {"show_birthday": True, "who_can_message": "following"},
        },
    )
    assert body["nickname"] == "Annie"
    assert body["bio"] == "Reads everything."
    assert (body["gender"], body["birthday"], body["mbti"]) == ("female", "1990-07-30", "INFP")
    assert body["zodiac"] == "leo"  # derived from the birthday
    assert body["preferences"] == {
        **DEFAULT_PREFERENCES,
        "language": "en",
        "theme": "dark",
        "content_kinds": ["audio"],
    }
    assert body["privacy"] == {
        **DEFAULT_PRIVACY,
        "show_birthday": True,
        "who_can_message": "following",
    }
    assert await json_of(await api.get(PROFILE, headers=ann.headers), 200) == body


async def test_settings_merge_key_by_key_across_patches(api, ann) -> None:
    await patch(api, ann, {"preferences": {"theme": "dark"}, "privacy": {"searchable": False}})
    body = await patch(api, ann, {"preferences": {"email_digest": False}})
    assert body["preferences"] == {**DEFAULT_PREFERENCES, "theme": "dark", "email_digest": False}
    assert body["privacy"] == {**DEFAULT_PRIVACY, "searchable": False}


async def test_a_zodiac_given_with_the_birthday_wins_and_null_clears_fields(api, ann) -> None:
    body = await patch(api, ann, {"birthday": "1990-07-30", "zodiac": "Pisces"})
    assert body["zodiac"] == "pisces"
    body = await patch(api, ann, {"bio": "x", "mbti": "ENTJ", "gender": "other"})
    body = await patch(
        api, ann, {"bio": None, "mbti": None, "zodiac": None, "birthday": None, "gender": None}
    )
    assert (body["bio"], body["mbti"], body["zodiac"], body["birthday"]) == (None, None, None, None)
    assert body["gender"] == "unspecified"


async def test_an_empty_bio_and_unspecified_gender_are_stored_as_nothing(api, ann) -> None:
    body = await patch(api, ann, {"bio": "   ", "gender": "unspecified"})
    assert (body["bio"], body["gender"]) == (None, "unspecified")
    assert await column(api, ann.id, "bio") is None
    assert await column(api, ann.id, "gender") is None


async def test_the_patch_keeps_the_me_object_in_step(api, ann) -> None:
    await patch(api, ann, {"nickname": "Annie"})
    me = await json_of(await api.get("/api/v1/me", headers=ann.headers), 200)
    assert me["nickname"] == "Annie"


async def test_broken_stored_settings_fall_back_to_their_defaults(api, ann) -> None:
    await set_columns(
        api, ann.id, preferences={"theme": "neon", "language": "en", "old": 1}, privacy=[1]
    )
    body = await json_of(await api.get(PROFILE, headers=ann.headers), 200)
    assert body["preferences"] == {**DEFAULT_PREFERENCES, "language": "en"}
    assert body["privacy"] == DEFAULT_PRIVACY


TOMORROW_EVERYWHERE = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "body"),
        ({"nickname": None}, "body"),
        ({"nickname": ""}, "body.nickname"),
        ({"bio": "b" * 501}, "body.bio"),
        ({"gender": "robot"}, "body.gender"),
        ({"birthday": TOMORROW_EVERYWHERE}, "body.birthday"),
        ({"birthday": "1899-12-31"}, "body.birthday"),
        ({"birthday": "30/07/1990"}, "body.birthday"),
        ({"birthday": 0}, "body.birthday"),  # not 1970-01-01
        ({"birthday": 649296000}, "body.birthday"),  # nor a Unix time
        ({"birthday": "649296000"}, "body.birthday"),
        ({"birthday": "1990-07-30T00:00:00Z"}, "body.birthday"),
        ({"mbti": "ABCD"}, "body.mbti"),
        ({"mbti": "INTJX"}, "body.mbti"),
        ({"zodiac": "ophiuchus"}, "body.zodiac"),
        ({"preferences": None}, "body"),
        ({"preferences": {"language": "fr"}}, "body.preferences.language"),
        ({"preferences": {"theme": "neon"}}, "body.preferences.theme"),
        ({"preferences": {"content_kinds": ["podcast"]}}, "body.preferences.content_kinds.0"),
        ({"preferences": {"email_digest": "sometimes"}}, "body.preferences.email_digest"),
        ({"preferences": {"font": "serif"}}, "body.preferences.font"),
        ({"privacy": {"who_can_message": "friends"}}, "body.privacy.who_can_message"),
        ({"privacy": {"show_followers": "maybe"}}, "body.privacy.show_followers"),
        ({"privacy": {"searchable": 0}}, "body.privacy.searchable"),
        ({"privacy": {"show_birthday": "true"}}, "body.privacy.show_birthday"),
        ({"preferences": {"email_digest": 0}}, "body.preferences.email_digest"),
        ({"privacy": {"everyone_sees_email": True}}, "body.privacy.everyone_sees_email"),
        ({"roles": ["admin"]}, "body.roles"),
        ({"follower_count": 10**6}, "body.follower_count"),
    ],
)
async def test_invalid_fields_are_422_naming_the_field_and_change_nothing(
    api, ann, body, field
) -> None:
    before = await json_of(await api.get(PROFILE, headers=ann.headers), 200)
    error = (await patch(api, ann, body, 422))["error"]
    assert error["code"] == "request.validation"
    assert field in error["fields"], error["fields"]
    assert await json_of(await api.get(PROFILE, headers=ann.headers), 200) == before


async def test_the_profile_needs_a_token(api) -> None:
    assert (await api.get(PROFILE)).status == 401
    assert (await api.patch(PROFILE, json={"bio": "x"})).status == 401


async def test_a_birthday_today_anywhere_on_earth_is_accepted(api, ann) -> None:
    today_somewhere = (datetime.now(UTC) + timedelta(hours=13)).date()
    body = await patch(api, ann, {"birthday": today_somewhere.isoformat()})
    assert body["zodiac"] == zodiac_of(today_somewhere)


@pytest.mark.parametrize(
    ("day", "sign"),
    [
        (date(2000, 1, 1), "capricorn"),
        (date(2000, 1, 19), "capricorn"),
        (date(2000, 1, 20), "aquarius"),
        (date(2000, 2, 19), "pisces"),
        (date(2000, 3, 20), "pisces"),
        (date(2000, 3, 21), "aries"),
        (date(2000, 4, 20), "taurus"),
        (date(2000, 5, 21), "gemini"),
        (date(2000, 6, 21), "cancer"),
        (date(2000, 7, 23), "leo"),
        (date(2000, 8, 23), "virgo"),
        (date(2000, 9, 23), "libra"),
        (date(2000, 10, 23), "scorpio"),
        (date(2000, 11, 22), "sagittarius"),
        (date(2000, 12, 21), "sagittarius"),
        (date(2000, 12, 22), "capricorn"),
    ],
)
def test_the_zodiac_of_a_birthday_follows_the_western_dates(day: date, sign: str) -> None:
    assert zodiac_of(day) == sign


def test_settings_defaults_are_documented_in_the_schema() -> None:
    for model in (Preferences, Privacy):
        for name, field in model.model_fields.items():
            assert field.description and "default" in field.description, name


async def test_other_domains_read_privacy_with_defaults_filled_in(api, ann) -> None:
    from server.identity.users import service
    from server.keys import RUNTIME

    await patch(api, ann, {"privacy": {"who_can_message": "nobody"}})
    async with api.app[RUNTIME].db.read() as session:
        privacy = await service.get_privacy(session, user_id=ann.id)
        unknown = await service.get_privacy(session, user_id=10**9)
    assert privacy == Privacy(who_can_message="nobody")
    assert unknown == Privacy()
