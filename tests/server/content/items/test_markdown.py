"""Markdown to safe HTML: no raw HTML, no script links, the paywall marker, media images."""

from __future__ import annotations

from server.content.items.markdown import has_paywall, preview, render


def test_raw_html_and_script_links_do_not_survive() -> None:
    html = render("<script>alert(1)</script>\n\n[x](javascript:alert(1)) <img src=x onerror=1>")
    assert "<script" not in html and "<img" not in html, "raw HTML is shown as text"
    assert "href" not in html, "a javascript: link is not a link"


def test_links_get_safe_rel_and_tables_render() -> None:
    html = render("[site](https://example.com)\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    assert 'href="https://example.com"' in html and "noopener" in html
    assert "<table>" in html


def test_the_paywall_marker_cuts_the_preview_and_vanishes_from_the_body() -> None:
    body = "intro\n\n<!-- PAYWALL -->\n\nsecret\n"
    assert has_paywall(body)
    assert preview(body) == "<p>intro</p>\n"
    assert "paywall" not in render(body).lower() and "secret" in render(body)
    assert preview("no marker here") == "" and not has_paywall("no marker")


def test_media_images_point_at_the_media_file_route() -> None:
    html = render("![a](media:7) ![b](media:x) [c](media:8)")
    assert '<img src="/api/v1/media/7/file" alt="a">' in html
    assert "media:" not in html, "anything else with the media scheme is dropped"
