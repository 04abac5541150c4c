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

from serve_fixtures import COLOURS, WORDS, ServerThread, make_world, png_bytes  # noqa: E402


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from distilhash.serve.app import create_app

    world = make_world(tmp_path_factory.mktemp("world"))
    with ServerThread(create_app([world["image_index"], world["text_index"]])) as url:
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
    assert page.locator("#results .card .dist").first.inner_text().startswith("d=")
    assert "ms" in page.locator("#took").inner_text()
    assert "serve-toy-sign" in page.locator("#answered-by").inner_text()
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
    assert "i2t" in page.locator("#status").inner_text()


def test_bad_upload_shows_the_service_message(site, page, tmp_path):
    url, _ = site
    page.goto(url + "/")
    bad = tmp_path / "notes.png"
    bad.write_bytes(b"this is not an image")
    page.set_input_files("#file", str(bad))
    page.wait_for_selector("#error:not([hidden])")
    assert "not an image" in page.locator("#error").inner_text()
