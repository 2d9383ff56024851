"""Headless Chromium (Selenium) against a running api-server: log in, trigger a DAG from its form, answer
a required action. The browser comes from the services step (.ci/services.sh installs it when missing)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver")


@contextmanager
def browser(base_url: str, username: str, password: str) -> Iterator:
    from selenium import webdriver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    if not (Path(CHROMIUM).exists() and CHROMEDRIVER):
        raise RuntimeError("chromium and chromedriver are missing: run `make services` (bash .ci/services.sh)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1600,1100"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    try:
        driver.get(f"{base_url}/")
        wait = WebDriverWait(driver, 60)
        wait.until(ec.presence_of_element_located((By.NAME, "username"))).send_keys(username)
        driver.find_element(By.NAME, "password").send_keys(password)
        driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait.until(lambda d: "/auth/login" not in d.current_url)
        yield driver
    finally:
        driver.quit()


def button(driver, label: str, timeout: float = 60):
    """The visible, enabled button whose text is ``label``; the last one on the page (a dialog's, when one is
    open over a page that has a button of the same name)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def find(d):
        shown = [b for b in d.find_elements(By.XPATH, f"//button[normalize-space()='{label}']") if b.is_displayed()]
        return shown[-1] if shown and shown[-1].is_enabled() else None

    return WebDriverWait(driver, timeout).until(find)


def settle(seconds: float = 2) -> None:
    """Let the UI finish drawing (only before a screenshot; never a timing assertion)."""
    time.sleep(seconds)
