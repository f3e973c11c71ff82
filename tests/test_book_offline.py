"""The built book reads offline: no page asks another host for anything, and MathJax is served
from the book itself. Reads the smoke build that `make test` makes first (`make book-check`)."""

import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUILT = ROOT / "_build" / "smoke" / "_build" / "html"
FETCHING = {"script": "src", "img": "src", "iframe": "src", "source": "src", "audio": "src", "video": "src",
            "embed": "src", "link": "href"}  # what a browser loads by itself (an <a href> is a link, not a request)


class _Requests(HTMLParser):
    def __init__(self):
        super().__init__()
        self.found = []

    def handle_starttag(self, tag, attrs):
        attribute = FETCHING.get(tag)
        value = dict(attrs).get(attribute) if attribute else None
        if value and value.strip().lower().startswith(("http://", "https://", "//")):
            self.found.append(f"<{tag} {attribute}={value!r}>")


def external_requests(html: str) -> list[str]:
    """The resources a page would fetch from another host."""
    parser = _Requests()
    parser.feed(html)
    return parser.found


def test_the_scanner_finds_what_a_page_would_fetch_and_ignores_links():
    page = ('<script defer src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"></script>'
            '<link rel="stylesheet" href="//fonts.example.org/a.css"><img src="_images/a.png">'
            '<a href="https://arxiv.org/abs/1805.08318">the paper</a><script src="_static/mathjax/x.js"></script>')
    assert external_requests(page) == [
        "<script src='https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js'>",
        "<link href='//fonts.example.org/a.css'>",
    ]


@pytest.fixture(scope="module")
def pages():
    if not (BUILT / "index.html").exists():
        pytest.skip(f"no built book at {BUILT}: `make test` builds it first (make book-check)")
    return sorted(BUILT.rglob("*.html"))


def test_no_page_of_the_built_book_requests_another_host(pages):
    offending = {str(p.relative_to(BUILT)): found for p in pages if (found := external_requests(p.read_text()))}
    assert not offending, f"pages that would fetch from the network: {offending}"


def test_every_chapter_loads_the_books_own_mathjax(pages):
    script = BUILT / "_static" / "mathjax" / "tex-chtml-full.js"
    assert script.stat().st_size > 1_000_000
    assert any((BUILT / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff"))
    with_math = [p for p in pages if 'class="math notranslate' in p.read_text()]  # typeset math, not the word
    assert len([p for p in with_math if p.parent.name == "book"]) >= 5  # the chapters with equations
    for page in with_math:
        assert "_static/mathjax/tex-chtml-full.js" in page.read_text(), page.name


def test_equations_render_in_a_browser_with_the_network_off(pages, chromium, tmp_path):
    from minisagan.bookbuild.browser import open_page

    chapter = BUILT / "book" / "01_gans_and_hinge.html"
    dom = open_page(chapter, tmp_path / "chapter.png")
    assert dom.count("<mjx-container") > 20  # every $...$ typeset by the book's own MathJax
    assert (tmp_path / "chapter.png").stat().st_size > 50_000
    # The same page asking a CDN for MathJax renders nothing: the browser really is offline.
    cdn = tmp_path / "book" / chapter.name
    shutil.copytree(BUILT, tmp_path, dirs_exist_ok=True)
    cdn.write_text(chapter.read_text().replace("../_static/mathjax/tex-chtml-full.js",
                                               "https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-chtml-full.js"))
    assert open_page(cdn).count("<mjx-container") == 0


def test_chapter_8s_explorer_in_the_built_book_shows_the_libraries_maps(pages, chromium, tmp_path):
    """The static explorer of the built page, moved to a query as a reader would, draws the map the
    library computes there for the shipped model (the chapter's images: seed 4, these classes)."""
    import json
    import re

    import numpy as np
    import torch

    from minisagan import reference
    from minisagan.bookbuild.browser import open_page
    from minisagan.explorer import generated_maps, quantized
    from minisagan.run.models import load_models

    page = BUILT / "book" / "08_attention_maps.html"
    element = re.search(r'<div id="(minisagan-explorer[^"]*)"', page.read_text()).group(1)
    G, D, config, _ = load_models(reference.folder("model") / "checkpoint.pt")
    classes = torch.tensor([0, 2, 3, 6, 8, 9])
    z = torch.randn(len(classes), config.z_dim, generator=torch.Generator().manual_seed(4))
    maps = generated_maps(G, D, z, classes)
    for index, row, col in ((2, 11, 6), (5, 26, 20)):
        dom = open_page(page, tmp_path / f"explorer{index}.png",
                        script=f"document.getElementById('{element}').minisaganSet({index}, {row}, {col});")
        readout = re.search(r'class="readout"[^>]*>([^<]*)<', dom).group(1)
        for name in ("G", "D"):
            r, c = maps.query_to_feature(name, row, col)
            grid = quantized(maps, name)[index, r, c]
            best = np.unravel_index(int(grid.argmax()), grid.shape)
            assert f"{name}: most attended cell ({best[0]}, {best[1]})" in readout, readout
        assert json.loads(re.search(r'data-state="([^"]*)"', dom).group(1).replace("&quot;", '"')) == {
            "index": index, "query": [row, col]}
