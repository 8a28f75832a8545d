"""Render the demo's alerts to HTML and screenshot them with headless Chromium (not part of `make test`).

    .venv/bin/python scripts/screenshot_alerts.py [--out DIR] [--png docs/alert-email.png]

Scans samples/ with samples/trailguard.toml (the `make demo` story), renders every finding as an
email and the whole batch as one digest, writes them as HTML files into DIR, and screenshots the
most severe single alert (to --png, the README's picture) and the digest (beside it in DIR) with
Debian's chromium (`apt-get install -y chromium`). Also writes a 390 px wide (phone) screenshot of
the single alert into DIR, to check the layout on a small screen.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from trailguard.cli import scan
from trailguard.core.settings import Settings
from trailguard.services.alerts import Alert
from trailguard.services.rendering.email import render_email

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "chromium")


def chromium() -> str:
    for candidate in CHROMIUM_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    sys.exit("chromium not found: apt-get update && apt-get install -y chromium")


def screenshot(browser: str, html: Path, png: Path, width: int, height: int) -> None:
    """One page to one PNG; a throwaway profile, and nothing that would phone home."""
    with tempfile.TemporaryDirectory(prefix="trailguard-chromium-") as profile:
        command = [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            f"--screenshot={png}",
            f"--window-size={width},{height}",
            html.as_uri(),
        ]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0 or not png.exists():
        sys.exit(f"chromium failed ({result.returncode}): {result.stderr.strip()[-2000:]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", default=str(ROOT / "outbox" / "screenshots"), help="folder for HTML and PNG files")
    parser.add_argument("--png", default=str(ROOT / "docs" / "alert-email.png"), help="the README's screenshot")
    parser.add_argument("--height", type=int, default=1400)
    args = parser.parse_args(argv)

    settings = Settings.load(config_file=ROOT / "samples" / "trailguard.toml")
    findings = scan([str(ROOT / "samples")], settings).findings
    if not findings:
        sys.exit("the scan of samples/ found nothing to render")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    ordered = sorted(findings, key=lambda f: (-int(f.severity), f.event_time))
    pages: list[Path] = []
    for index, finding in enumerate(ordered, start=1):
        page = out / f"{index:02d}_{finding.severity.name.lower()}_{finding.rule_id}.html"
        page.write_text(render_email(Alert((finding,))).html, encoding="utf-8")
        pages.append(page)
    digest = out / "digest.html"
    digest.write_text(render_email(Alert(tuple(ordered), digest=True)).html, encoding="utf-8")

    browser = chromium()
    # The most severe finding is the story's headline: a security group opened to the internet on SSH.
    hero = next((p for p in pages if "sg.ingress-open-to-world" in p.name), pages[0])
    png = Path(args.png)
    png.parent.mkdir(parents=True, exist_ok=True)
    screenshot(browser, hero, png, 800, args.height)
    screenshot(browser, hero, out / "alert-phone.png", 390, 1800)
    screenshot(browser, digest, out / "digest.png", 800, 1800)
    print(f"{len(pages)} alerts and a digest written to {out}")
    print(f"screenshots: {png}, {out / 'alert-phone.png'}, {out / 'digest.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
