"""Cutting a published body into passages: marked by the paywall marker, paragraph-aware."""

from __future__ import annotations

from server.content.items.markdown import preview
from server.content.search import tokenizer
from server.tutor.retrieval.chunking import LONGEST, TARGET, chunk_item, preview_hashes

BODY = (
    "# 入门\n\n第一段，公开。\n\nA short open paragraph.\n\n"
    "<!-- paywall -->\n\n"
    "## 付费部分\n\nThe paid paragraph with zebracorn.\n"
)


def test_passages_before_the_marker_are_preview_and_after_it_paid() -> None:
    chunks = chunk_item(body=BODY)
    assert [(c.access, c.anchor) for c in chunks] == [("preview", "p-0"), ("paid", "p-3")]
    assert "zebracorn" not in chunks[0].body and "zebracorn" in chunks[1].body
    assert "paywall" not in "".join(c.body for c in chunks)
    assert [c.ordinal for c in chunks] == [0, 1]


def test_the_preview_cut_is_the_one_readers_get() -> None:
    shown = preview(BODY)
    for chunk in chunk_item(body=BODY):
        assert (chunk.access == "preview") == ("第一段" in chunk.body)
    assert "第一段" in shown and "zebracorn" not in shown


def test_a_body_without_a_marker_is_all_paid() -> None:
    chunks = chunk_item(body="Everything here.\n\nIs behind the price.\n")
    assert [c.access for c in chunks] == ["paid"]
    assert preview_hashes(body="Everything here.\n") == set()


def test_short_paragraphs_merge_and_a_heading_starts_a_new_passage() -> None:
    body = "\n\n".join(["one " * 20, "two " * 20, "## Next", "three " * 20])
    chunks = chunk_item(body=body)
    assert [c.anchor for c in chunks] == ["p-0", "p-2"]
    assert chunks[1].body.startswith("## Next")


def test_long_paragraphs_split_at_sentence_ends_chinese_included() -> None:
    sentence = "这是一个讲知识付费的句子。"
    body = sentence * 200 + "\n\n" + "An English sentence here. " * 80
    chunks = chunk_item(body=body)
    assert len(chunks) > 4
    assert all(len(c.body) <= LONGEST for c in chunks)
    chinese = [c for c in chunks if c.anchor == "p-0"]
    assert all(c.body.endswith("。") for c in chinese)
    english = [c for c in chunks if c.anchor == "p-1"]
    assert all(c.body.endswith(".") for c in english)
    assert all(len(c.body) <= TARGET for c in chinese + english)


def test_tokens_are_the_search_tokenisers_and_hashes_follow_text_and_mark() -> None:
    (paid,) = chunk_item(body="知识付费 Python")
    assert paid.tokens.split() == tokenizer.document_tokens("知识付费 Python")
    (marked,) = chunk_item(body="<!-- paywall -->\n\n知识付费 Python")
    assert marked.body == paid.body and marked.source_hash == paid.source_hash
    (opened,) = chunk_item(body="知识付费 Python\n\n<!-- paywall -->\n")
    assert opened.access == "preview" and opened.source_hash != paid.source_hash
    assert preview_hashes(body="知识付费 Python\n\n<!-- paywall -->\n") == {opened.source_hash}
