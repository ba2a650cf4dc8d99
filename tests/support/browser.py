"""A real Chromium driven by Selenium (Debian's chromium and chromium-driver; nothing downloaded),
and the few things the tests do in Label Studio's editor with it."""

from __future__ import annotations

import shutil

import pytest

from tests.support.servers import wait_until

# What the editor shows of each region: its text in the DOM, and the offsets Label Studio kept.
HIGHLIGHTS_JS = """
return Array.from(document.querySelectorAll('.htx-highlight')).map(e => ({
  text: e.textContent, label: e.dataset.label || '', start: e.dataset.start, end: e.dataset.end}));
"""

# The viewport rectangle of the first occurrence of a string in the editor's text nodes.
RECT_JS = """
const [word] = arguments;
const root = document.querySelector('.lsf-richtext__container');
if (!root) return null;
const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
for (let node = walker.nextNode(); node; node = walker.nextNode()) {
  const i = node.data.indexOf(word);
  if (i >= 0) {
    const range = document.createRange();
    range.setStart(node, i);
    range.setEnd(node, i + word.length);
    const b = range.getBoundingClientRect();
    return [b.left, b.top, b.width, b.height];
  }
}
return null;
"""


def chrome():
    """Headless Chromium from the system's packages; the test fails with the install line if absent."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as ChromeService

    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not binary or not driver:
        pytest.fail("the browser tests need Debian's chromium and chromium-driver: "
                    "apt-get install chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,900",
                "--disable-gpu", "--lang=en-US"):
        options.add_argument(arg)
    return webdriver.Chrome(service=ChromeService(driver), options=options)


def log_in(driver, ls) -> None:
    """Label Studio's own login form, as a person fills it in."""
    from selenium.webdriver.common.by import By

    driver.get(ls.url + "/user/login/")
    wait_until("the login form", lambda: driver.find_elements(By.NAME, "email"))
    driver.find_element(By.NAME, "email").send_keys(ls.username)
    driver.find_element(By.NAME, "password").send_keys(ls.password)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_until("the login to finish", lambda: "/user/login" not in driver.current_url)


def highlights(driver) -> list[dict]:
    """The regions the editor draws: text in the DOM, label, and Label Studio's own offsets."""
    return driver.execute_script(HIGHLIGHTS_JS)


def open_task(driver, ls, project: int, task: int, regions: int) -> list[dict]:
    """Open a task in the labeling editor and return its highlights once `regions` are drawn."""
    driver.get(f"{ls.url}/projects/{project}/data?task={task}")

    def drawn():
        shown = highlights(driver)
        return shown if len(shown) >= regions else None

    return wait_until(f"task {task} to show {regions} highlighted regions", drawn, timeout=60)


def label_with_mouse(driver, label: str, word: str) -> None:
    """Pick `label`, then drag the mouse across the first occurrence of `word` in the text."""
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.by import By

    buttons = [e for e in driver.find_elements(By.CSS_SELECTOR, ".lsf-label") if e.text.split()[:1] == [label]]
    assert buttons, f"no label button {label!r} in the editor"
    buttons[0].click()
    left, top, width, height = driver.execute_script(RECT_JS, word)
    y = int(top + height / 2)
    drag = ActionBuilder(driver)
    drag.pointer_action.move_to_location(int(left + 2), y).pointer_down()
    drag.pointer_action.move_to_location(int(left + width - 1), y).pointer_up()
    drag.perform()


def submit(driver) -> None:
    from selenium.webdriver.common.by import By

    buttons = [b for b in driver.find_elements(By.TAG_NAME, "button") if b.text.strip() == "Submit"]
    assert buttons, "the editor shows no Submit button"
    buttons[0].click()
