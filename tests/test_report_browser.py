"""The report of a real run, opened in headless Chromium: images load, sections are there.

Needs selenium (test extras) and Chromium with its driver (Debian: ``apt-get install chromium
chromium-driver``; ``.ci/run`` installs them). Skipped, saying why, only where Chromium cannot
start. ``AECM_REPORT_SCREENSHOT=docs/report-digits.png python -m pytest
tests/test_report_browser.py`` regenerates the screenshot in the docs.
"""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import pytest

from aecm.cli import main
from aecm.report import SECTION_IDS

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")

FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking")
WIDTH = 1100


def _chromium() -> tuple[str, str] | None:
    browser = next(
        (
            shutil.which(n)
            for n in ("chromium", "chromium-browser", "google-chrome")
            if shutil.which(n)
        ),
        None,
    )
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


@pytest.fixture(scope="module")
def browser():
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    found = _chromium()
    if found is None:
        pytest.skip("Chromium or chromedriver is not installed (apt-get install chromium "
                    "chromium-driver)")  # fmt: skip
    options = Options()
    options.binary_location = found[0]
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--window-size={WIDTH},900")
    try:
        driver = webdriver.Chrome(options=options, service=Service(found[1]))
    except WebDriverException as exc:
        pytest.skip(f"Chromium cannot start here: {str(exc.msg).splitlines()[0]}")
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory) -> Path:
    """``aecm fit`` on scikit-learn's digits saved as CSV: the CM with the label column."""
    from sklearn.datasets import load_digits

    folder = tmp_path_factory.mktemp("digits")
    X, y = load_digits(return_X_y=True)
    with open(folder / "digits.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([f"pixel{j}" for j in range(64)] + ["digit"])
        for row, label in zip(X.astype(int), y, strict=True):
            writer.writerow([*row.tolist(), int(label)])
    here = Path.cwd()
    os.chdir(folder)  # the command as a user types it, with relative paths
    try:
        code = main(["fit", "digits.csv", "--method", "cm", "--n-clusters", "10",
                     "--label-column", "digit", "--scale", "minmax", "--out", "run"])  # fmt: skip
    finally:
        os.chdir(here)
    assert code == 0
    return folder / "run"


def test_report_renders_in_chromium(browser, digits_run, tmp_path):
    browser.get((digits_run / "report.html").as_uri())
    assert browser.execute_script("return document.readyState") == "complete"
    assert browser.title == "aecm report: cm on digits.csv"

    images = browser.execute_script(
        "return Array.from(document.images).map(i => [i.id, i.complete, i.naturalWidth]);"
    )
    assert len(images) == 6, images  # sizes, map, centroids, nearest, training, confusion
    for name, complete, width in images:
        assert complete and width > 0, name

    for section in SECTION_IDS:
        heading = browser.execute_script(
            f"const s = document.getElementById('{section}'); "
            "return s ? s.querySelector('h2').textContent : null;"
        )
        assert heading, section
    headings = browser.execute_script(
        "return Array.from(document.querySelectorAll('h2')).map(h => h.textContent);"
    )
    assert headings == ["Summary", "2-D map", "Centroids", "Training curves",
                        "Scores against the labels"]  # fmt: skip
    text = browser.execute_script("return document.body.innerText;")
    assert "1797 rows × 64 features" in text and "NMI" in text
    assert "aecm fit digits.csv --method cm --n-clusters 10 --out run --label-column digit" in text

    # a screenshot of the whole page
    height = browser.execute_script("return document.documentElement.scrollHeight;")
    browser.set_window_size(WIDTH, height + 120)
    target = Path(os.environ.get("AECM_REPORT_SCREENSHOT", tmp_path / "report.png"))
    assert browser.save_screenshot(str(target))
    assert target.stat().st_size > 50_000 and target.read_bytes().startswith(b"\x89PNG")
