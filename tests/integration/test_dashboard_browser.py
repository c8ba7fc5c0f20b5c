"""The dashboard in a real browser: Debian's Chromium, headless, driven by Selenium through
Debian's chromedriver, against a table on the real PostgreSQL server. The page loads, the table
sorts and pages (server-side), a cancel changes the row in the database, a job finishing elsewhere
shows up without a reload, markup in a key or a value shows as text; a search's best so far
against trials is drawn and follows a new trial live; screenshots are kept."""
from __future__ import annotations

import json

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from jobstore import status as st
from jobstore.store import open_db
from tests.helpers.dashboard import (
    SCRIPT_KEY,
    SCRIPT_VALUE,
    best_so_far,
    chromium,
    fill,
    finish_next,
    run_trials,
    running_server,
    small_search,
)

WAIT_S = 30


@pytest.fixture
def browser():
    driver = chromium()
    yield driver
    driver.quit()


def wait(driver, predicate, what):
    """Poll until ``predicate(driver)`` holds; the page redraws live, so an element read while it
    is replaced is read again."""
    return WebDriverWait(driver, WAIT_S, poll_frequency=0.1, ignored_exceptions=[StaleElementReferenceException]
                         ).until(lambda d: predicate(d), message=what)


def click(driver, by, selector):
    """Click an element, finding it again if a redraw replaced it in between."""
    def attempt(d):
        d.find_element(by, selector).click()
        return True
    wait(driver, attempt, f"a click on {selector}")


def text(driver, css):
    return driver.find_element(By.CSS_SELECTOR, css).text


def first_column(driver, index):
    return [r.find_elements(By.TAG_NAME, "td")[index].text
            for r in driver.find_elements(By.CSS_SELECTOR, "#results tbody tr")]


def test_dashboard_in_chromium(pg_url, browser, tmp_path):
    ids = fill(pg_url, n_done=58, n_start=3)
    with running_server(pg_url) as server:
        browser.get(f"{server.url}#token={server.token}")
        wait(browser, lambda d: text(d, "#page-info") == "rows 1–50 of 61", "the first page")
        assert text(browser, "#mode") == "actions enabled"
        assert "58\nDONE" in text(browser, "#counts")

        # markup from the table is text: the <script> value and the <img> key are shown, not run
        assert browser.execute_script("return window.pwned") is None
        assert SCRIPT_VALUE in text(browser, "#results tbody tr:first-child")
        headers = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "#results thead th")]
        assert SCRIPT_KEY in headers
        assert not browser.find_elements(By.CSS_SELECTOR, "#results img, #results script")

        # paging and sorting are the server's: the second page, then lr ascending (smallest first)
        click(browser, By.ID, "next")
        wait(browser, lambda d: text(d, "#page-info") == "rows 51–61 of 61", "the second page")
        lr_col = headers.index("lr")
        click(browser, By.XPATH, "//th[text()='lr']")
        wait(browser, lambda d: text(d, "#page-info") == "rows 1–50 of 61", "back to the first page, sorted")
        wait(browser, lambda d: first_column(d, 1)[:2] == [str(ids[-1]), str(ids[-2])], "lr sorted ascending")
        assert float(first_column(browser, lr_col)[0]) < float(first_column(browser, lr_col)[1])
        click(browser, By.XPATH, "//th[text()='lr']")
        wait(browser, lambda d: first_column(d, 1)[:2] == [str(ids[0]), str(ids[1])], "lr sorted descending")
        assert first_column(browser, lr_col)[0] == "0.1000"
        assert browser.find_element(By.XPATH, "//th[text()='lr']").get_attribute("class").endswith("sorted-desc")

        # a cancel from the page reaches the database (job ids[-1] is waiting, lr smallest: first row)
        click(browser, By.XPATH, "//th[text()='lr']")
        wait(browser, lambda d: first_column(d, 1)[0] == str(ids[-1]), "the waiting job first")
        assert first_column(browser, 2)[0] == "START"
        click(browser, By.CSS_SELECTOR, "#results tbody tr:first-child input[type=checkbox]")
        click(browser, By.ID, "act-cancel")
        wait(browser, lambda d: text(d, "#action-msg") == "cancel: 1 job(s) changed", "the action's answer")
        with open_db(pg_url) as db:
            assert db.get(ids[-1]).status == st.CANCELED

        # a job finished elsewhere appears without a reload (the marker survives)
        browser.execute_script("window.notReloaded = true")
        with open_db(pg_url) as db:
            finish_next(db)
        wait(browser, lambda d: "59\nDONE" in text(d, "#counts"), "the new DONE count")
        assert browser.execute_script("return window.notReloaded") is True

        # learning curves of the ticked job, the parameter plots and parallel coordinates drawn
        click(browser, By.CSS_SELECTOR, f"#results tbody tr[data-id='{ids[-4]}'] input[type=checkbox]")
        wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#curves canvas"), "a learning curve")
        wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#scatters canvas"), "the scatter plots")
        assert "lr (log)" in text(browser, "#scatters")
        path = tmp_path / "dashboard.png"
        browser.save_screenshot(str(path))
        print(f"screenshot: {path}")
        assert path.stat().st_size > 10_000


def test_search_best_so_far_in_chromium(pg_url, browser, tmp_path):
    """One curve per search: the best objective after each DONE trial, in job id order, failed
    trials skipped; a trial finished elsewhere extends it without a reload; the search's name
    (markup) shows as text."""
    values = {1: 0.5, 2: None, 3: 0.7, 4: 0.3, 5: 0.9, 6: 0.05}
    fill(pg_url, n_done=2)
    ids = small_search(pg_url, values, n_run=5)
    with running_server(pg_url) as server:
        browser.get(server.url)
        holder = "#search-1"
        curve = lambda d: json.loads(d.find_element(By.CSS_SELECTOR, holder).get_attribute("data-best") or "null")  # noqa: E731
        want = best_so_far(pg_url, ids)
        assert len(want[0]) == 4  # one failed trial skipped
        wait(browser, lambda d: curve(d) == want, "the best-so-far curve")
        assert browser.find_elements(By.CSS_SELECTOR, f"{holder} canvas")
        title = text(browser, f"{holder} h3")
        assert title.startswith(SCRIPT_VALUE + " · minimize loss · 4 done, 1 failed, 0 running of 6")
        assert browser.execute_script("return window.pwned") is None
        browser.execute_script("window.notReloaded = true")
        ids += run_trials(pg_url, values, 1)
        want = best_so_far(pg_url, ids)
        wait(browser, lambda d: curve(d) == want, "the curve extended by the new trial")
        assert browser.execute_script("return window.notReloaded") is True
        path = tmp_path / "dashboard-search.png"
        element = browser.find_element(By.CSS_SELECTOR, holder)
        browser.execute_script("arguments[0].scrollIntoView()", element)
        element.screenshot(str(path))
        print(f"screenshot: {path}")
        assert path.stat().st_size > 2_000
