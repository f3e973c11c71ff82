"""Open a built page as a reader would, in headless Chromium with no network, and keep what it shows.

    python -m minisagan.bookbuild.browser _build/html/book/01_gans_and_hinge.html --screenshot page.png

The network is off for real where the process may make a network namespace of its own (``unshare -n``,
as root on Linux): the browser then has no interface at all. Elsewhere every host name resolves to
nothing and every proxy request goes to a closed port, which blocks the same requests. Returns the
page's DOM after its scripts ran (``--virtual-time-budget`` lets MathJax and the book's own scripts
finish), so a test can check what the scripts made of the page.
"""

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
REQUIRE_ENV = "MINISAGAN_REQUIRE_BROWSER"  # CI sets it: a missing browser is then a failure, not a skip


def find_browser() -> str | None:
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


def _offline_prefix() -> list[str]:
    unshare = shutil.which("unshare")
    if unshare and os.geteuid() == 0 and subprocess.run([unshare, "-n", "true"], capture_output=True).returncode == 0:
        return [unshare, "-n"]
    return []


def open_page(page: Path, screenshot: Path | None = None, size=(1200, 1600), budget_ms: int = 15000,
              script: str | None = None) -> str:
    """The DOM of ``page`` after its scripts ran, with no network; a PNG of it too with ``screenshot``.

    ``script``: JavaScript run after the page loaded (before the DOM is taken), e.g. to move a control.
    """
    browser = find_browser()
    if browser is None:
        raise FileNotFoundError("no Chromium found (apt-get install chromium, or any of " + ", ".join(BROWSERS) + ")")
    page = Path(page).resolve()
    if not page.exists():
        raise FileNotFoundError(f"no page at {page}: build the book first (make book, or make book-check)")
    url = page.as_uri()
    if script:  # a copy of the page that runs the script once everything else has
        runner = page.with_name(f".browser-{page.name}")
        runner.write_text(page.read_text() + f"\n<script>window.addEventListener('load', () => setTimeout(() => {{{script}}}, 500));</script>\n")
        url = runner.as_uri()
    flags = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
             f"--virtual-time-budget={budget_ms}", f"--window-size={size[0]},{size[1]}",
             "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>"]
    prefix = _offline_prefix()
    try:
        if screenshot is not None:
            subprocess.run([*prefix, browser, *flags, f"--screenshot={Path(screenshot).resolve()}", url],
                           capture_output=True, check=True, timeout=120)
        result = subprocess.run([*prefix, browser, *flags, "--dump-dom", url], capture_output=True, text=True,
                                check=True, timeout=120)
    finally:
        if script:
            runner.unlink(missing_ok=True)
    return result.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", type=Path)
    parser.add_argument("--screenshot", type=Path)
    args = parser.parse_args()
    try:
        dom = open_page(args.page, args.screenshot)
    except (FileNotFoundError, subprocess.SubprocessError) as error:
        sys.exit(f"browser: {error}")
    rendered = dom.count("<mjx-container")
    print(f"{args.page}: {rendered} equations typeset by MathJax, network off ({'unshare -n' if _offline_prefix() else 'blocked by flags'})"
          + (f"; screenshot {args.screenshot}" if args.screenshot else ""))


if __name__ == "__main__":
    main()
