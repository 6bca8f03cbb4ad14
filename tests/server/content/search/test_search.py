"""Searching published content through the API on MariaDB: Chinese and English, filters,
access flags, the index following the content's lifecycle, errors."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from tests.helpers.content import publish
from tests.helpers.people import Person, call, person
from tests.helpers.search import found, search

BOTH = "我们聊聊知识付费的未来。"
APART = "知识很重要，付费也可以。"


async def test_a_chinese_phrase_finds_the_body_that_holds_it_not_its_words_apart(
    api: TestClient, creator: Person, moderator: Person
) -> None:
    together = await publish(api, creator, moderator, title="文章一", body=BOTH)
    apart = await publish(api, creator, moderator, title="文章二", body=APART)
    assert await found(api, "知识付费") == [together["id"]]
    assert sorted(await found(api, "付费")) == sorted([together["id"], apart["id"]])
    assert await found(api, "付费的未来") == [together["id"]]


async def test_a_single_chinese_character_finds_every_item_holding_it(
    api: TestClient, creator: Person, moderator: Person
) -> None:
    one = await publish(api, creator, moderator, title="文章一", body=BOTH)
    two = await publish(api, creator, moderator, title="文章二", body=APART)
    await publish(api, creator, moderator, title="别的", body="没有那个字。")
    assert sorted(await found(api, "知")) == sorted([one["id"], two["id"]])


async def test_english_words_are_all_required_in_any_case(
    api: TestClient, creator: Person, moderator: Person
) -> None:
    learning = await publish(
        api, creator, moderator, title="Learning", body="Learning Python quickly, the hard way."
    )
    snakes = await publish(api, creator, moderator, title="Snakes", body="A python is a snake.")
    assert await found(api, "python learning") == [learning["id"]]
    assert sorted(await found(api, "PYTHON")) == sorted([learning["id"], snakes["id"]])
    assert await found(api, "the hard way") == [learning["id"]]  # stopwords are words here
    assert await found(api, "a snake") == [snakes["id"]]  # one-letter words count
    assert await found(api, "pythons") == []  # no stemming


async def test_mixed_chinese_and_english(
    api: TestClient, creator: Person, moderator: Person
) -> None:
    guide = await publish(api, creator, moderator, title="Python入门指南", body="从零开始。")
    await publish(api, creator, moderator, title="Java入门", body="另一门语言。")
    assert await found(api, "Python入门") == [guide["id"]]
    assert await found(api, "python 指南") == [guide["id"]]
    assert len(await found(api, "入门")) == 2


async def test_long_words_and_symbols_are_found_exactly(
    api: TestClient, creator: Person, moderator: Person
) -> None:
    long_word = "pneumonoultramicroscopicsilicovolcanoconiosis"
    item = await publish(
        api, creator, moderator, title="Words", body=f"{long_word} and C++ and 🙂 and café"
    )
    assert await found(api, long_word) == [item["id"]]
    assert await found(api, long_word + "x") == []
    assert await found(api, "c") == [item["id"]]
    assert await found(api, "CAFÉ") == [item["id"]]


async def test_titles_summaries_and_tags_are_searched_and_titles_rank_first(
    api: TestClient, creator: Person, moderator: Person
) -> None:
    in_body = await publish(api, creator, moderator, title="别的标题", body="这里讲区块链。")
    in_title = await publish(api, creator, moderator, title="区块链入门", body="内容。")
    in_summary = await publish(
        api, creator, moderator, title="第三篇", summary="关于区块链", body="正文。"
    )
    tagged = await publish(
        api, creator, moderator, title="第四篇", body="正文。", tags=["机器学习"]
    )
    ids = await found(api, "区块链")
    assert sorted(ids) == sorted([in_body["id"], in_title["id"], in_summary["id"]])
    assert ids[0] == in_title["id"] and ids[-1] == in_body["id"]
    assert await found(api, "机器学习") == [tagged["id"]]
    assert await found(api, "正文", tag="机器学习") == [tagged["id"]]
    assert await found(api, "正文", tag="  机器学习 ") == [tagged["id"]]


async def test_only_the_published_body_is_searched_not_markup_or_links(
    api: TestClient, creator: Person, moderator: Person
) -> None:
    item = await publish(
        api, creator, moderator, title="链接", body="看 [这里](https://secret.example/hidden) 吧"
    )
    assert await found(api, "这里") == [item["id"]]
    assert await found(api, "hidden") == []
    assert await found(api, "https") == []


async def test_filters(api: TestClient, creator: Person, moderator: Person, admin: Person) -> None:
    other = await person(api, "creator")
    category = await call(
        api, "POST", "/categories", admin, 201, json={"name": "编程", "slug": "code"}
    )
    free = await publish(api, creator, moderator, title="课程 免费", body="学习")
    paid = await publish(
        api,
        creator,
        moderator,
        title="课程 付费",
        body="学习",
        access="paid",
        price_cents=990,
        category_id=category["id"],
    )
    audio = await publish(api, other, moderator, kind="audio", title="课程 音频", body="学习")
    assert sorted(await found(api, "课程")) == sorted([free["id"], paid["id"], audio["id"]])
    assert await found(api, "课程", price="paid") == [paid["id"]]
    assert sorted(await found(api, "课程", price="free")) == sorted([free["id"], audio["id"]])
    assert await found(api, "课程", kind="audio") == [audio["id"]]
    assert await found(api, "课程", author_id=other.id) == [audio["id"]]
    assert await found(api, "课程", category_id=category["id"]) == [paid["id"]]
    assert await found(api, "课程", tag="nothing") == []


async def test_paid_items_show_up_but_only_entitled_readers_may_read_them(
    api: TestClient, creator: Person, moderator: Person, reader: Person
) -> None:
    paid = await publish(
        api, creator, moderator, title="付费专栏", body="正文", access="paid", price_cents=100
    )
    free = await publish(api, creator, moderator, title="免费专栏", body="正文")
    for who in (None, reader):
        page = await search(api, who, q="专栏")
        flags = {item["id"]: item["can_read"] for item in page["items"]}
        assert flags == {paid["id"]: False, free["id"]: True}
    page = await search(api, creator, q="付费专栏")
    assert page["items"][0]["can_read"] is True
    item = page["items"][0]
    assert item["access"] == "paid" and item["price_cents"] == 100
    assert item["author"]["id"] == creator.id and "html" not in item and "body" not in item


async def test_archived_items_leave_the_results_and_come_back_when_restored(
    api: TestClient, creator: Person, moderator: Person
) -> None:
    item = await publish(api, creator, moderator, title="归档测试", body="内容")
    assert await found(api, "归档") == [item["id"]]
    await call(api, "POST", f"/contents/{item['id']}/archive", creator, 200)
    assert await found(api, "归档") == []
    await call(api, "POST", f"/contents/{item['id']}/restore", creator, 200)
    assert await found(api, "归档") == [item["id"]]


async def test_drafts_and_items_in_review_are_not_found(api: TestClient, creator: Person) -> None:
    item = await call(
        api,
        "POST",
        "/contents",
        creator,
        201,
        json={"kind": "article", "title": "草稿标题", "body": "x"},
    )
    await call(api, "POST", f"/contents/{item['id']}/submit", creator, 200, json={})
    assert await found(api, "草稿") == []


async def test_an_approved_update_replaces_what_is_found(
    api: TestClient, creator: Person, moderator: Person
) -> None:
    item = await publish(api, creator, moderator, title="旧标题", body="旧的正文")
    draft = await call(api, "GET", f"/contents/{item['id']}/draft", creator, 200)
    await call(
        api,
        "PUT",
        f"/contents/{item['id']}/draft",
        creator,
        200,
        json={"revision": draft["revision"], "title": "新标题", "body": "崭新的正文"},
    )
    await call(api, "POST", f"/contents/{item['id']}/submit", creator, 200, json={})
    # While the update waits for review, readers (and search) still see the published version.
    assert await found(api, "旧的") == [item["id"]]
    assert await found(api, "崭新") == []
    await call(api, "POST", f"/moderation/contents/{item['id']}/approve", moderator, 200, json={})
    assert await found(api, "旧的") == []
    assert await found(api, "崭新") == [item["id"]]
    page = await search(api, q="新标题")
    assert page["items"][0]["title"] == "新标题"


async def test_changed_tags_and_settings_of_a_published_item_are_searched_at_once(
    api: TestClient, creator: Person, moderator: Person
) -> None:
    item = await publish(api, creator, moderator, title="标签", body="正文", tags=["旧标签"])
    await call(api, "PATCH", f"/contents/{item['id']}", creator, 200, json={"tags": ["新标签"]})
    assert await found(api, "新标签") == [item["id"]]
    assert await found(api, "旧标签") == []
    await call(
        api,
        "PATCH",
        f"/contents/{item['id']}",
        creator,
        200,
        json={"access": "paid", "price_cents": 500},
    )
    assert await found(api, "标签", price="paid") == [item["id"]]


async def test_highlights_come_from_the_title_or_summary_only(
    api: TestClient, creator: Person, moderator: Person
) -> None:
    await publish(
        api, creator, moderator, title="标题", summary="一篇关于 Rust 的文章", body="正文 secret"
    )
    page = await search(api, q="rust")
    assert page["items"][0]["highlight"] == "一篇关于 Rust 的文章"
    page = await search(api, q="secret")
    assert page["items"][0]["highlight"] is None


async def test_queries_without_words_and_bad_parameters_are_refused(api: TestClient) -> None:
    for q in ("!!!", "   ", "，。？", "___"):
        data = await search(api, None, 422, q=q)
        assert data["error"]["code"] == "search.empty_query"
        assert "q" in data["error"]["fields"]
    await call(api, "GET", "/search", None, 422)
    for params in (
        {"q": ""},
        {"q": "x" * 101},
        {"q": "a", "sort": "best"},
        {"q": "a", "price": "cheap"},
        {"q": "a", "kind": "poem"},
        {"q": "a", "limit": 0},
        {"q": "a", "limit": 101},
        {"q": "a", "category_id": 0},
    ):
        await search(api, None, 422, **params)
