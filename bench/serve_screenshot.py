"""Screenshot of the search page with real results (for docs/screenshot.png).

    python bench/serve_screenshot.py IMAGE_INDEX [TEXT_INDEX] --query "a cat face and a red heart" --out docs/screenshot.png
    (the demo's indexes: data/indexes/demo-dcmq64-image data/indexes/demo-dcmq64-text; the service's default query encoder)
    python bench/serve_screenshot.py IMAGE_INDEX TEXT_INDEX --query "" --out start.png   # the start page
    python bench/serve_screenshot.py IMAGE_INDEX TEXT_INDEX --example 1 --out ex.png      # click the 1st example query

Starts the service in-process on a free loopback port, opens the page in headless Debian
chromium (Playwright), types the query, waits for the grid and its thumbnails, and saves a
screenshot of the page.
"""

from __future__ import annotations

import argparse
import socket
import threading
import time
from pathlib import Path

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("indexes", nargs="+", type=Path)
    p.add_argument("--query", default="a cat face and a red heart")
    p.add_argument("--k", default="24")
    p.add_argument("--out", type=Path, default=Path("docs/screenshot.png"))
    p.add_argument("--chromium", default="/usr/bin/chromium")
    p.add_argument("--width", type=int, default=1200)
    p.add_argument("--height", type=int, default=900)
    p.add_argument("--example", type=int, default=0, help="click the N-th example query of the start page instead of typing")
    p.add_argument("--weak-match-dir", help="the weak-match calibration (default: <model_dir>/weak-match when present)")
    p.add_argument("--full-page", action="store_true", help="the whole page, not only the first screen")
    p.add_argument("--query-encoder", default="auto", choices=["auto", "static", "teacher"],
                   help="as distilhash serve --query-encoder (auto: the model's static encoder when fitted)")
    args = p.parse_args(argv)

    import torch
    import uvicorn
    from playwright.sync_api import sync_playwright

    from distilhash.serve.app import create_app
    from distilhash.serve.server import ensure_thumbnails

    torch.set_num_threads(1)
    ensure_thumbnails(args.indexes)
    app = create_app([str(d) for d in args.indexes], query_encoder=args.query_encoder, weak_match_dir=args.weak_match_dir)
    app.state.service.warm()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS, headless=True)
            page = browser.new_page(viewport={"width": args.width, "height": args.height})
            page.set_default_timeout(60_000)
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_function("document.getElementById('model').textContent.includes('bits')")
            page.select_option("#k", args.k)
            grid = "#results"
            if args.example:
                page.locator("#examples .example").nth(args.example - 1).click()
            elif args.query:
                page.fill("#q", args.query)
                page.press("#q", "Enter")
            else:
                grid = "#sample"
            page.wait_for_selector(f"{grid} .card")
            page.wait_for_function(f"[...document.querySelectorAll('{grid} .card img')].every(i => i.complete && i.naturalWidth > 0)")
            args.out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(args.out), full_page=args.full_page)
            print(page.locator("#status").inner_text())
            browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
