"""HTML to readable text with the standard library's parser.

Models read plain text more cheaply than markup; scripts, styles and other
non-content elements are dropped, block elements become line breaks, and the
page's links are kept apart so a model can follow them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

_SKIPPED = frozenset({"script", "style", "noscript", "template", "svg", "iframe", "object", "canvas", "select"})
_BLOCKS = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption", "figure",
        "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol", "p",
        "pre", "section", "table", "tbody", "thead", "tr", "ul",
    }
)  # fmt: skip
_SPACES = re.compile(r"[ \t\r\f\v\n]+")


@dataclass(slots=True)
class Page:
    title: str = ""
    text: str = ""
    links: list[tuple[str, str]] = field(default_factory=list)


def html_to_text(markup: str, base_url: str = "", max_links: int = 30) -> Page:
    """The title, the visible text and up to ``max_links`` distinct http(s)
    links (label, absolute URL) of an HTML document."""
    parser = _Extractor(base_url, max_links)
    parser.feed(markup)
    parser.close()
    lines = (line.strip() for line in "".join(parser.out).splitlines())
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return Page(_SPACES.sub(" ", "".join(parser.title)).strip(), text, parser.links)


class _Extractor(HTMLParser):
    def __init__(self, base_url: str, max_links: int) -> None:
        super().__init__(convert_charrefs=True)
        self.base_url = base_url
        self.max_links = max_links
        self.out: list[str] = []
        self.title: list[str] = []
        self.links: list[tuple[str, str]] = []
        self._seen: set[str] = set()
        self._skip_depth = 0
        self._pre_depth = 0
        self._in_title = False
        self._link: tuple[str, list[str]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self._skip_depth += 1
        if self._skip_depth:
            return
        if tag == "title":
            self._in_title = True
        elif tag == "pre":
            self._pre_depth += 1
        elif tag == "a":
            href = dict(attrs).get("href") or ""
            self._link = (urljoin(self.base_url, href.strip()), [])
        if tag in _BLOCKS:
            self.out.append("\n")
        if tag == "li":
            self.out.append("- ")
        elif tag in ("td", "th"):
            self.out.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self._skip_depth = max(0, self._skip_depth - 1)
            return
        if self._skip_depth:
            return
        if tag == "title":
            self._in_title = False
        elif tag == "pre":
            self._pre_depth = max(0, self._pre_depth - 1)
        elif tag == "a" and self._link is not None:
            self._keep_link(*self._link)
            self._link = None
        if tag in _BLOCKS:
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if self._skip_depth:
            return
        if self._in_title:
            self.title.append(data)
            return
        text = data if self._pre_depth else _SPACES.sub(" ", data)
        self.out.append(text)
        if self._link is not None:
            self._link[1].append(text)

    def _keep_link(self, url: str, label_parts: list[str]) -> None:
        if len(self.links) >= self.max_links or url in self._seen or urlsplit(url).scheme not in ("http", "https"):
            return
        self._seen.add(url)
        label = _SPACES.sub(" ", "".join(label_parts)).strip()
        self.links.append((label[:100], url))
