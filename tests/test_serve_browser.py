"""The search page end to end in a real browser (Debian's headless chromium driven by Playwright)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("faiss")

CHROMIUM = os.environ.get("DISTILHASH_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)),
                       reason=f"chromium not found at {CHROMIUM} (apt-get install chromium; or set DISTILHASH_CHROMIUM)"),
]

from serve_fixtures import COLOURS, WORDS, ServerThread, make_weak_match, make_world, png_bytes  # noqa: E402


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from distilhash.serve.app import create_app

    world = make_world(tmp_path_factory.mktemp("world"))
    calibration = make_weak_match(world, tmp_path_factory.mktemp("weak-match"))
    with ServerThread(create_app([world["image_index"], world["text_index"]], weak_match_dir=str(calibration))) as url:
        yield url, world


@pytest.fixture(scope="module")
def page(site):
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            pg = browser.new_page(viewport={"width": 1100, "height": 800})
            pg.set_default_timeout(20_000)
            yield pg
        finally:
            browser.close()


def test_typed_query_fills_the_result_grid(site, page):
    url, world = site
    page.goto(url + "/")
    page.wait_for_function("document.getElementById('model').textContent.includes('serve-toy-sign')")
    page.fill("#q", "boat")
    page.select_option("#k", "12")
    page.press("#q", "Enter")
    page.wait_for_selector("#results .card")
    cards = page.locator("#results .card")
    assert cards.count() == 12
    ids = [cards.nth(i).get_attribute("data-id") for i in range(cards.count())]
    boat = WORDS.index("boat")
    assert all(world["first"][int(i[2:])] == boat for i in ids[:4])  # text -> images: boat-coloured scenes first
    # thumbnails really loaded from the service, distances shown, time and model reported
    page.wait_for_function("[...document.querySelectorAll('#results .card img')].every(i => i.complete && i.naturalWidth > 0)")
    assert page.locator("#results .card .dist").first.inner_text().endswith("/8 bits differ")
    assert page.locator("#results .card .rank").first.inner_text() == "#1"
    assert "Hamming distance" in page.locator("#ranking").inner_text()
    assert "typical item" in page.locator("#match").inner_text()
    assert "q=boat" in page.url  # the query is in the address
    assert "ms" in page.locator("#took").inner_text()
    # the time in words on the status line; the stages and the model behind the "details" toggle
    assert "understanding your query" in page.locator("#timing-words").inner_text()
    assert "searching" in page.locator("#timing-words").inner_text()
    assert not page.locator("#answered-by").is_visible()
    page.click("#timing-detail summary")
    assert "serve-toy-sign" in page.locator("#answered-by").inner_text()
    assert "comparing codes" in page.locator("#timing-detail .stages").inner_text()
    assert page.locator("#query").inner_text() == "boat"

    # an empty query shows a message, not a request
    page.fill("#q", "")
    page.press("#q", "Enter")
    assert page.locator("#error").is_visible() and "Type a few words" in page.locator("#error").inner_text()


def test_uploaded_image_finds_captions(site, page, tmp_path):
    url, _ = site
    page.goto(url + "/")
    page.wait_for_function("document.getElementById('model').textContent.includes('serve-toy-sign')")
    img = tmp_path / "fish.png"
    img.write_bytes(png_bytes(COLOURS[WORDS.index("fish")], size=32))
    page.set_input_files("#file", str(img))
    page.wait_for_selector("#results .card")
    captions = page.locator("#results .card .caption").all_inner_texts()
    assert captions and all("fish" in c.split() for c in captions[:4])
    assert "picture → captions" in page.locator("#status").inner_text()  # i2t, in words


def test_bad_upload_shows_the_service_message(site, page, tmp_path):
    url, _ = site
    page.goto(url + "/")
    bad = tmp_path / "notes.png"
    bad.write_bytes(b"this is not an image")
    page.set_input_files("#file", str(bad))
    page.wait_for_selector("#error:not([hidden])")
    assert "not an image" in page.locator("#error").inner_text()


def test_address_back_button_item_dialog_and_more_like_this(site, page):
    url, world = site
    page.goto(url + "/?q=fish&k=12")  # a link with a query runs it
    page.wait_for_function("(document.getElementById('query') || {}).textContent === 'fish'")
    assert page.locator("#q").input_value() == "fish" and page.locator("#results .card").count() == 12
    page.fill("#q", "moon")
    page.press("#q", "Enter")
    page.wait_for_function("(document.getElementById('query') || {}).textContent === 'moon'")
    assert "q=moon" in page.url
    page.go_back()
    page.wait_for_function("(document.getElementById('query') || {}).textContent === 'fish'")
    assert "q=fish" in page.url and page.locator("#q").input_value() == "fish"

    first = page.locator("#results .card").first
    item_id = first.get_attribute("data-id")
    first.click()
    page.wait_for_selector("#item[open] #item-neighbours .card")
    assert page.locator("#item-id").inner_text() == item_id  # the full id, never cut
    assert "labels: fish" in page.locator("#item-labels").inner_text()
    fish = WORDS.index("fish")
    neighbours = page.locator("#item-neighbours .card")
    assert all(world["first"][int(neighbours.nth(i).get_attribute("data-id")[2:])] == fish for i in range(3))
    page.click("#item-more")
    page.wait_for_function("location.search.includes('like=')")
    page.wait_for_function("((document.getElementById('query') || {}).textContent || '').startsWith('items like')")
    assert item_id in page.locator("#query").inner_text()
    page.go_back()
    page.wait_for_function("(document.getElementById('query') || {}).textContent === 'fish'")


def test_controls_fit_a_narrow_screen_and_weak_matches_are_flagged(site, page):
    url, _ = site
    page.set_viewport_size({"width": 400, "height": 800})
    try:
        page.goto(url + "/?q=zzqx%20blorf")  # no known word: the toy teacher gives a flat query
        page.wait_for_function("(document.getElementById('query') || {}).textContent === 'zzqx blorf'")
        assert page.evaluate("document.documentElement.scrollWidth") <= 400
        for sel in ("#q", "#k", "#direction", "#search-btn", "#drop"):
            box = page.locator(sel).bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= 400, sel
        assert page.locator("#match.weak").is_visible() and "Weak match" in page.locator("#match").inner_text()
    finally:
        page.set_viewport_size({"width": 1100, "height": 800})


def test_start_page_three_searches_without_typing(site, page):
    url, world = site
    page.goto(url + "/")
    page.wait_for_selector("#sample .card img")
    # what the index holds, the ways to search, and example queries computed from its captions
    assert page.locator("#start").is_visible() and page.locator("#sample .card").count() == 12
    assert "40 pictures" in page.locator("#sample-title").inner_text()
    assert page.locator(".ways li").count() == 3 and "Drop a picture" in page.locator(".ways").inner_text()
    examples = page.locator("#examples .example").all_inner_texts()
    assert examples and set(examples) <= set(WORDS)  # words of the toy captions, none hand-written

    # 1. an example query: a click runs it, the address keeps it, back returns to the start page
    first = examples[0]
    page.locator("#examples .example").first.click()
    page.wait_for_function(f"(document.getElementById('query') || {{}}).textContent === {first!r}")
    assert f"q={first}" in page.url and not page.locator("#start").is_visible()
    word = WORDS.index(first)
    ids = [page.locator("#results .card").nth(i).get_attribute("data-id") for i in range(3)]
    assert all(world["first"][int(i[2:])] == word for i in ids)
    page.go_back()
    page.wait_for_selector("#start:not([hidden])")
    assert page.locator("#results .card").count() == 0

    # 2. a sample picture -> "Show more like this"
    page.locator("#sample .card").first.click()
    page.wait_for_selector("#item[open] #item-neighbours .card")
    page.click("#item-more")
    page.wait_for_function("((document.getElementById('query') || {}).textContent || '').startsWith('items like')")
    assert "like=" in page.url and page.locator("#results .card").count() > 0

    # 3. a result picture -> "Search with this picture" (its thumbnail as an image query)
    page.locator("#results .card").first.click()
    page.wait_for_selector("#item[open]")
    page.click("#item-as-query")
    page.wait_for_function("(document.getElementById('status').textContent || '').includes('picture → captions')")
    assert page.locator("#results .card .caption").count() > 0


def test_weak_match_note_is_calibrated_and_offers_examples(site, page):
    url, _ = site
    page.goto(url + "/?q=boat")
    page.wait_for_function("(document.getElementById('query') || {}).textContent === 'boat'")
    assert not page.locator("#match.weak").count()
    assert "read like this collection's captions" in page.locator("#match").inner_text()

    page.goto(url + "/?q=qwxz%20blorf")
    page.wait_for_function("(document.getElementById('query') || {}).textContent === 'qwxz blorf'")
    note = page.locator("#match.weak")
    assert note.is_visible() and "do not read like anything in this collection's captions" in note.inner_text()
    assert "threshold" in note.get_attribute("title")
    tries = note.locator(".example")
    assert 0 < tries.count() <= 4
    suggestion = tries.first.inner_text()
    tries.first.click()
    page.wait_for_function(f"(document.getElementById('query') || {{}}).textContent === {suggestion!r}")
    assert not page.locator("#match.weak").count()


def test_page_links_and_requests_come_from_the_served_route_table(site, page):
    from distilhash.serve import routes

    url, _ = site
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url[len(url):].split("?")[0]))
    page.goto(url + "/")
    page.wait_for_function("document.getElementById('model').textContent.length > 0")
    assert page.evaluate("window.DISTILHASH_ROUTES") == routes.PAGE_ROUTES
    hrefs = page.eval_on_selector_all("a[data-route]", "els => els.map(a => [a.dataset.route, a.getAttribute('href')])")
    assert hrefs and all(href == routes.PAGE_ROUTES[name] for name, href in hrefs)
    assert routes.ROUTES_JS in seen and routes.STATS in seen and routes.START in seen
