"""The course as students and instructors use it: JupyterLab in headless Chromium.

A copy of the checkout (its tracked and unignored files, committed in a throwaway git
repository) is served by ``jupyter lab`` as ``make lab`` serves it, with its own exchange,
HOME and weights cache, and driven by Playwright on the system's Chromium (Debian:
``apt-get install chromium``; Playwright's own browser download is never used). The tests
run in order, as one class would: a student reads lecture 01; the instructor releases 01_pca
in Formgrader; the student fetches it, answers, validates and submits; the instructor
collects, autogrades and releases feedback; the student fetches the feedback; the checkout
is as clean as before. Screenshots of each step go to ``build/screenshots/``.
"""

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from tests import ROOT

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOTS = os.path.join(ROOT, "build", "screenshots")
ASSIGNMENT = "01_pca"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _git(args, cwd, **kw):
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t")
    env["GIT_COMMITTER_EMAIL"] = "t@t"
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, **kw)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """The checkout's files in a git repository of their own, so `git status` can be checked."""
    missing = None
    if CHROMIUM is None:
        missing = "no system Chromium (Debian: apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            missing = "no playwright (pip install -e '.[dev]')"
    if missing and os.environ.get("AEKERAS_REQUIRE_BROWSER"):
        pytest.fail(missing)
    elif missing:
        pytest.skip(missing)
    base = tmp_path_factory.mktemp("browser")
    copy = base / "course"
    listed = _git(["ls-files", "-z", "--cached", "--others", "--exclude-standard"], ROOT)
    for rel in filter(None, listed.stdout.decode().split("\0")):
        source = os.path.join(ROOT, rel)
        if os.path.isfile(source):
            os.makedirs(copy / os.path.dirname(rel), exist_ok=True)
            shutil.copy2(source, copy / rel)
    _git(["init", "-q"], copy)
    _git(["add", "-A"], copy)
    _git(["commit", "-q", "-m", "copy"], copy)
    return base, copy


@pytest.fixture(scope="module")
def lab(course):
    """`jupyter lab` on the copy, as `make lab` starts it; yields its base URL and token."""
    base, copy = course
    port, token = _free_port(), secrets.token_hex(16)
    home = base / "home"
    (home / ".jupyter" / "labconfig").mkdir(parents=True)
    # No "Would you like to get notified about official Jupyter news?" toast over the pages.
    with open(home / ".jupyter" / "labconfig" / "page_config.json", "w") as f:
        json.dump({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}, f)
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)  # figures are drawn inline, as a student sees them
    env.update(
        HOME=str(home),
        PYTHONPATH=os.pathsep.join(filter(None, [str(copy), env.get("PYTHONPATH", "")])),
        AEKERAS_EXCHANGE=str(base / "exchange"),
        AEKERAS_CACHE_DIR=str(base / "weights"),
        AEKERAS_RESULTS_DIR=str(base / "results"),
        KERAS_HOME=os.environ.get("KERAS_HOME", os.path.expanduser("~/.keras")),
        JUPYTER_CONFIG_DIR=str(home / ".jupyter"),
    )
    command = [
        sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.token={token}",
        f"--ServerApp.root_dir={copy}", "--LabApp.expose_app_in_browser=True",
    ] + (["--allow-root"] if os.getuid() == 0 else [])  # fmt: skip
    log = open(base / "lab.log", "w")
    server = subprocess.Popen(command, cwd=copy, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=5)
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                log.close()
                pytest.fail(f"jupyter lab did not start:\n{(base / 'lab.log').read_text()[-3000:]}")
            time.sleep(0.5)
    yield {"url": url, "token": token, "copy": copy, "log": base / "lab.log"}
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
    log.close()


@pytest.fixture(scope="module")
def playwright():
    """One Playwright for the module: a second sync_playwright() while the first runs fails
    ("Sync API inside the asyncio loop")."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(course, playwright):
    base, _ = course
    os.makedirs(SCREENSHOTS, exist_ok=True)
    context = playwright.chromium.launch_persistent_context(
        str(base / "chromium-profile"),
        executable_path=CHROMIUM,
        args=CHROMIUM_ARGS,
        headless=True,
        viewport={"width": 1400, "height": 1000},
    )
    context.set_default_timeout(60_000)
    yield context
    context.close()


def shutdown_sessions(lab):
    """Closes every kernel the pages started (as a student's File > Shut Down would)."""
    auth = {"Authorization": f"token {lab['token']}"}
    with urllib.request.urlopen(
        urllib.request.Request(f"{lab['url']}/api/sessions", headers=auth)
    ) as r:
        sessions = json.load(r)
    for session in sessions:
        request = urllib.request.Request(
            f"{lab['url']}/api/sessions/{session['id']}", headers=auth, method="DELETE"
        )
        urllib.request.urlopen(request).close()


def shot(page, name):
    page.screenshot(path=os.path.join(SCREENSHOTS, f"{name}.png"))


def open_lab(browser, lab, path=""):
    page = browser.new_page()
    page.goto(f"{lab['url']}/lab{'/tree/' + path if path else ''}?token={lab['token']}")
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell")
    # Commands run before the layout is restored can be undone by the restore.
    page.evaluate("() => window.jupyterapp.restored.then(() => true)")
    return page


NOTEBOOK_STATE = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  if (!panel || !panel.content || !panel.content.widgets) return null;
  const session = panel.sessionContext;
  const cells = panel.content.widgets.filter(c => c.model.type === 'code');
  return {
    kernel: session.session && session.session.kernel ? session.session.kernel.status : null,
    counts: cells.map(c => c.model.executionCount),
    outputs: cells.map(c => c.model.outputs.toJSON()),
    images: document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-RenderedImage img').length,
  };
}"""


def run_all_and_wait(page, timeout=300):
    page.wait_for_function(
        "() => { const p = window.jupyterapp.shell.currentWidget;"
        " return p && p.sessionContext && p.sessionContext.session"
        " && p.sessionContext.session.kernel"
        " && p.sessionContext.session.kernel.status === 'idle'; }"
    )
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = page.evaluate(NOTEBOOK_STATE)
        if state["kernel"] == "idle" and all(n is not None for n in state["counts"]):
            return state
        time.sleep(1)
    raise AssertionError(f"cells still running after {timeout} s: {state['counts']}")


def test_student_runs_lecture_01(browser, lab):
    page = open_lab(browser, lab, "course/01_pca.ipynb")
    state = run_all_and_wait(page)
    outputs = [o for cell in state["outputs"] for o in cell]
    stderr = [o for o in outputs if o.get("output_type") == "stream" and o.get("name") == "stderr"]
    errors = [o for o in outputs if o.get("output_type") == "error"]
    figures = [o for o in outputs if "image/png" in o.get("data", {})]
    assert not errors, errors
    assert not stderr, stderr
    assert figures, "lecture 01 showed no figure"
    page.wait_for_function(
        "n => document.querySelectorAll("
        "'.jp-NotebookPanel:not(.lm-mod-hidden) .jp-RenderedImage img').length >= n",
        arg=len(figures),
    )
    page.locator(".jp-RenderedImage img").first.scroll_into_view_if_needed()
    shot(page, "01_student_lecture_01_figure")
    page.evaluate("() => window.jupyterapp.commands.execute('application:close-all')")
    page.close()
    shutdown_sessions(lab)


def formgrader(browser, lab, path="manage_assignments"):
    page = browser.new_page()
    page.goto(f"{lab['url']}/formgrader/{path}?token={lab['token']}")
    return page


def formgrader_action(page, link, name):
    """Clicks one of Formgrader's action links and returns the text of the log it shows."""
    link.click()
    modal = page.locator("#success-modal, #error-modal")
    modal.wait_for(state="visible", timeout=600_000)
    text = modal.inner_text()
    shot(page, name)
    assert "Successfully" in text, text
    modal.locator(".modal-footer button, button.close").first.click()
    modal.wait_for(state="detached")
    return text


def assignment_row(page):
    return page.locator("tbody tr").filter(has=page.locator("td.name", has_text=ASSIGNMENT))


def test_instructor_releases_in_formgrader(browser, lab):
    page = formgrader(browser, lab)
    row = assignment_row(page)
    formgrader_action(page, row.locator("td.assign a"), "02_instructor_generated")
    formgrader_action(page, assignment_row(page).locator("td.release a"), "03_instructor_released")
    page.close()


def _answers():
    with open(os.path.join(ROOT, "solutions", ASSIGNMENT, f"{ASSIGNMENT}.ipynb")) as f:
        cells = json.load(f)["cells"]
    answers = {}
    for cell in cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution") and cell["cell_type"] == "code":
            source = "".join(cell["source"])
            source = re.sub(r"[ \t]*### (BEGIN|END) SOLUTION\n?", "", source)
            answers[meta["grade_id"]] = source
    return answers


def assignment_list(browser, lab):
    page = open_lab(browser, lab)
    command = "nbgrader:open-assignment-list"
    page.wait_for_function("c => window.jupyterapp.commands.hasCommand(c)", arg=command)
    page.evaluate("c => window.jupyterapp.commands.execute(c)", command)
    page.wait_for_selector("#released_assignments_list")
    page.wait_for_selector("#released_assignments_list_loading", state="hidden")
    return page


def test_student_fetches_validates_submits(browser, lab):
    page = assignment_list(browser, lab)
    fetch = page.get_by_role("button", name="Fetch", exact=True)
    fetch.first.wait_for()
    shot(page, "04_student_assignment_list")
    fetch.first.click()
    page.get_by_role("button", name="Submit", exact=True).first.wait_for()
    assert (lab["copy"] / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").exists()
    page.close()

    # The student answers: each answer cell gets the solution through JupyterLab's notebook
    # model (as if typed; the editor is not driven key by key), then the notebook is saved.
    page = open_lab(browser, lab, f"{ASSIGNMENT}/{ASSIGNMENT}.ipynb")
    path = f"{ASSIGNMENT}/{ASSIGNMENT}.ipynb"
    find = "p => [...window.jupyterapp.shell.widgets('main')].find(w => w.context && w.context.path === p)"
    page.wait_for_function(f"p => !!({find})(p)", arg=path)
    filled = page.evaluate(
        f"""async ([answers, path]) => {{
          const panel = ({find})(path);
          await panel.context.ready;
          window.jupyterapp.shell.activateById(panel.id);
          let n = 0;
          for (const cell of panel.content.widgets) {{
            const meta = cell.model.getMetadata('nbgrader');
            if (meta && meta.solution && answers[meta.grade_id] !== undefined) {{
              cell.model.sharedModel.setSource(answers[meta.grade_id]);
              n += 1;
            }}
          }}
          await panel.context.save();
          return n;
        }}""",
        [_answers(), path],
    )
    assert filled > 0
    shot(page, "05_student_answers")
    toolbar = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-NotebookPanel-toolbar")
    toolbar.get_by_text("Validate", exact=True).click()
    page.wait_for_selector(
        ".jp-Dialog .validation-success, .jp-Dialog .validation-failed", timeout=300_000
    )
    dialog = page.locator(".jp-Dialog")
    shot(page, "06_student_validated")
    assert dialog.locator(".validation-success").count() == 1, dialog.inner_text()
    dialog.get_by_role("button").last.click()
    page.evaluate("() => window.jupyterapp.commands.execute('application:close-all')")
    page.close()
    shutdown_sessions(lab)

    page = assignment_list(browser, lab)
    submit = page.get_by_role("button", name="Submit", exact=True)
    submit.first.click()
    page.wait_for_function(
        "() => document.querySelector('#submitted_assignments_list')"
        " && /\\d{4}-\\d\\d-\\d\\d/.test(document.querySelector('#submitted_assignments_list').innerText)",
        timeout=120_000,
    )
    shot(page, "07_student_submitted")
    page.close()


def test_instructor_collects_autogrades_releases_feedback(browser, lab):
    page = formgrader(browser, lab)
    formgrader_action(page, assignment_row(page).locator("td.collect a"), "08_instructor_collected")
    page.goto(f"{lab['url']}/formgrader/manage_submissions/{ASSIGNMENT}?token={lab['token']}")
    student = page.locator("tbody tr").first
    formgrader_action(page, student.locator("td.autograde a"), "09_instructor_autograded")
    page.wait_for_function(
        "() => /\\d+(\\.\\d+)? \\/ \\d+/.test(document.querySelector('tbody tr').innerText)"
    )
    score = page.locator("tbody tr").first.inner_text()
    shot(page, "10_instructor_scores")
    got, total = re.search(r"(\d+(?:\.\d+)?) / (\d+(?:\.\d+)?)", score).groups()
    assert float(got) == float(total), f"the solution should score full marks: {score}"
    formgrader_action(page, student.locator("td.generate-feedback a"), "11_instructor_feedback")
    formgrader_action(page, student.locator("td.release-feedback a"), "12_instructor_released_fb")
    page.close()


def test_student_fetches_feedback(browser, lab):
    page = assignment_list(browser, lab)
    page.get_by_role("button", name="Fetch Feedback").first.click()
    feedback = lab["copy"] / ASSIGNMENT / "feedback"
    deadline = time.monotonic() + 60
    while not list(feedback.glob("*/*.html")) and time.monotonic() < deadline:
        time.sleep(1)
    html = list(feedback.glob("*/*.html"))
    assert html, "no feedback fetched"
    shot(page, "13_student_fetched_feedback")
    page.goto(f"{lab['url']}/files/{html[0].relative_to(lab['copy'])}?token={lab['token']}")
    shot(page, "14_student_feedback")
    assert "BEGIN HIDDEN TESTS" not in page.content()
    page.close()


def test_checkout_clean_afterwards(lab):
    status = _git(["status", "--porcelain"], lab["copy"], text=True).stdout
    assert status == "", f"the course left changes in the checkout:\n{status}"


# The built book (`make book`), read offline: one quick lecture under the session's profile.
BOOK_LECTURE = "01_pca"


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    """`tools/build_book.py --only 01` into a scratch folder (the checkout's build/ is kept)."""
    missing = None
    if CHROMIUM is None:
        missing = "no system Chromium (Debian: apt-get install chromium)"
    else:
        try:
            import jupyter_server_mathjax  # noqa: F401 - the book's MathJax
            import playwright.sync_api  # noqa: F401
        except ImportError as err:
            missing = f"{err.name} is missing (pip install -e '.[dev]')"
    if missing:
        pytest.fail(missing) if os.environ.get("AEKERAS_REQUIRE_BROWSER") else pytest.skip(missing)
    out = tmp_path_factory.mktemp("book")
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))
    )
    build = subprocess.run(
        [sys.executable, os.path.join(ROOT, "tools", "build_book.py"), "--only", "01",
         "--timeout", "600", "--out", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def offline_page(playwright):
    """A Chromium page that may load file:// URLs only: any other request fails the test."""
    os.makedirs(SCREENSHOTS, exist_ok=True)
    chromium = playwright.chromium.launch(
        executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
    )
    context = chromium.new_context(viewport={"width": 1200, "height": 900})
    requested = []

    def only_files(route):
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            requested.append(route.request.url)
            route.abort()

    context.route("**/*", only_files)
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page, requested
    chromium.close()


TYPESET = """() => new Promise(done => {
  if (!window.MathJax || !MathJax.Hub) return done(false);
  MathJax.Hub.Queue(() => done(true));
})"""


def test_book_index_shows_a_results_table_offline(book, offline_page):
    page, requested = offline_page
    page.goto((book / "index.html").as_uri())
    table = page.locator(".results table")
    assert table.count() == 1, "the results are not an HTML table"
    header = [h.strip() for h in table.locator("th").all_inner_texts()]
    assert header[:5] == ["lecture", "key", "value", "paper", "ratio"], header
    paper_cells = [
        row.locator("td").all_inner_texts()
        for row in table.locator("tbody tr").all()
        if "Hinton & Salakhutdinov 2006" in row.inner_text()
    ]
    assert paper_cells, "lecture 01's PCA-30 error should stand beside the paper's 13.87"
    lecture, key, value, paper, ratio = paper_cells[0][:5]
    assert paper.startswith("13.87 (") and float(ratio) == pytest.approx(
        float(value) / 13.87, rel=0.01
    )
    assert page.locator(f"a[href='{BOOK_LECTURE}.html']").count() == 1
    # The table scrolls within its box instead of running off the page.
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=os.path.join(SCREENSHOTS, "15_book_index.png"), full_page=True)
    assert not requested, requested


def test_book_lecture_renders_formulas_offline_without_stderr(book, offline_page):
    page, requested = offline_page
    page.goto((book / f"{BOOK_LECTURE}.html").as_uri())
    assert page.evaluate(TYPESET), "MathJax did not load from build/mathjax"
    shown = page.evaluate("() => document.body.innerText")
    assert "$$" not in shown, "unrendered display math"
    assert "\\frac" not in shown and "\\mathbb" not in shown, "unrendered TeX"
    typeset = page.locator(".MathJax, .MathJax_Display, .MathJax_SVG").count()
    with open(os.path.join(ROOT, "course", f"{BOOK_LECTURE}.ipynb")) as f:
        markdown = "".join(
            "".join(c["source"]) for c in json.load(f)["cells"] if c["cell_type"] == "markdown"
        )
    assert typeset >= markdown.count("$$") // 2 > 0, (typeset, markdown.count("$$"))
    assert page.locator(".MathJax_Error, merror").count() == 0
    stderr = page.locator("[data-mime-type='application/vnd.jupyter.stderr']")
    assert stderr.count() == 0, stderr.all_inner_texts()
    assert page.locator(".jp-RenderedImage img").count() > 0, "the figures are missing"
    page.locator(".MathJax_Display").first.scroll_into_view_if_needed()
    page.screenshot(path=os.path.join(SCREENSHOTS, "16_book_lecture_01.png"))
    assert not requested, requested
