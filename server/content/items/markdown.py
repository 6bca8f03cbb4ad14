"""Markdown to safe HTML, and the paywall marker that ends the free preview.

markdown-it-py's `js-default` preset is CommonMark without raw HTML; nh3 then keeps only an
allowlist of tags and attributes, so neither a `<script>` nor a `javascript:` link survives.
An author ends the preview with a line holding only `<!-- paywall -->`. Images of the platform's
own media are written `![alt](media:<id>)` and rendered to `/api/v1/media/<id>/file`, which
redirects whoever may see them to a signed link (so a stored body never holds a link that
expires, or one that would open a paid file to everybody).
"""

from __future__ import annotations

import re

import nh3
from markdown_it import MarkdownIt

PAYWALL = re.compile(r"^[ \t]*<!--[ \t]*paywall[ \t]*-->[ \t]*$", re.MULTILINE | re.IGNORECASE)

_md = MarkdownIt("js-default").enable("table").enable("strikethrough")
_TAGS = {
    *("p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "code"),
    *("ul", "ol", "li", "strong", "em", "s", "del", "a", "img", "table", "thead", "tbody"),
    *("tr", "th", "td"),
}
_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "th": {"align"},
    "td": {"align"},
}


MEDIA_SOURCE = re.compile(r'(<img [^>]*src=")media:(\d{1,18})"')


def render(markdown: str) -> str:
    """Safe HTML for a Markdown body (the paywall marker, if any, is dropped)."""
    html = MEDIA_SOURCE.sub(r'\1/api/v1/media/\2/file"', _md.render(PAYWALL.sub("", markdown)))
    return nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )


def preview(markdown: str) -> str:
    """Safe HTML of the part before the paywall marker; empty when there is no marker."""
    match = PAYWALL.search(markdown)
    return render(markdown[: match.start()]) if match else ""


def has_paywall(markdown: str) -> bool:
    return PAYWALL.search(markdown) is not None
