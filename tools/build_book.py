"""Executes every lecture notebook and writes a browsable HTML course into ``build/``.

    python tools/build_book.py [--timeout SECONDS] [--only 01 02]

Writes ``build/<notebook>.html`` (figures embedded), ``build/index.html`` linking them with
their run times, and ``build/results.md`` with the headline numbers the lectures recorded
(:mod:`aekeras.results`), shown in the index as a table with the paper's number and the ratio
beside ours. Formulas are typeset by the MathJax 2.7 that the ``jupyter-server-mathjax``
package ships, copied into ``build/mathjax/``: the book reads offline. Runs under the profile
in ``$AEKERAS_PROFILE``. Exits non-zero when a notebook fails, after building the rest.
With ``--only``, the other lectures' pages, rows and results from an earlier run into the same
folder are kept (a build under another profile is not mixed in: it starts afresh).
"""

import argparse
import glob
import html
import importlib.resources
import json
import os
import shutil
import sys
import time

import nbformat
from nbclient import NotebookClient
from nbconvert import HTMLExporter
from nbconvert.filters.markdown_mistune import markdown2html_mistune

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def title_of(nb, fallback):
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return fallback


# MathJax 2.7 from the environment (nbconvert's template is written for 2.7 and loads it from a
# CDN by default). The package ships the HTML-CSS and SVG outputs but only the STIX web fonts,
# hence the font setting; `Safe` keeps notebook Markdown from running scripts through TeX.
MATHJAX_URL = "mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe"
MATHJAX_FONTS = (
    '<script type="text/x-mathjax-config">MathJax.Hub.Config({"HTML-CSS": '
    '{availableFonts: [], preferredFont: null, webFont: "STIX-Web", imageFont: null}});</script>'
)


def copy_mathjax(out):
    """Copies MathJax's static files into `out/mathjax` (once); returns that folder."""
    target = os.path.join(out, "mathjax")
    if not os.path.exists(os.path.join(target, "MathJax.js")):
        static = importlib.resources.files("jupyter_server_mathjax") / "static"
        shutil.copytree(static, target, dirs_exist_ok=True)
    return target


def stderr_outputs(nb):
    """The number of stderr outputs in an executed notebook (a lecture should have none)."""
    return sum(
        1
        for cell in nb.cells
        for output in cell.get("outputs", [])
        if output.get("output_type") == "stream" and output.get("name") == "stderr"
    )


def read_entries(out, profile_name):
    """The lectures an earlier build into `out` under the same profile ran: name → row."""
    try:
        with open(os.path.join(out, "book.json")) as f:
            book = json.load(f)
    except (OSError, ValueError):
        return {}
    if book.get("profile") != profile_name:
        return {}
    return {row[0]: tuple(row) for row in book.get("lectures", [])}


def write_entries(out, profile_name, entries):
    """Records each built lecture's (name, title, seconds, error) row as soon as it is built."""
    with open(os.path.join(out, "book.json"), "w") as f:
        json.dump({"profile": profile_name, "lectures": list(entries.values())}, f, indent=1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    parser.add_argument("--only", nargs="*", help="notebook number prefixes to build")
    parser.add_argument("--out", default=os.path.join(ROOT, "build"))
    args = parser.parse_args(argv)

    # Kernels inherit the environment: a non-interactive MPLBACKEND (e.g. Agg, set for tests)
    # would leave the book without figures.
    os.environ.pop("MPLBACKEND", None)
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    results_dir = os.path.join(out, "results")
    os.environ["AEKERAS_RESULTS_DIR"] = results_dir

    from aekeras.profiles import get_profile
    from aekeras.results import write_markdown

    profile = os.environ.get("AEKERAS_PROFILE", "auto")
    profile_name = get_profile(profile).name
    earlier = read_entries(out, profile_name) if args.only else {}
    if os.path.exists(os.path.join(results_dir, "results.jsonl")) and not earlier:
        os.remove(os.path.join(results_dir, "results.jsonl"))
    notebooks = sorted(glob.glob(os.path.join(ROOT, "course", "*.ipynb")))
    if args.only:
        notebooks = [p for p in notebooks if os.path.basename(p).startswith(tuple(args.only))]
    if not notebooks:
        print("No lecture notebooks found in course/.", file=sys.stderr)
        return 1
    copy_mathjax(out)
    exporter = HTMLExporter(mathjax_url=MATHJAX_URL)
    failed = []
    for path in notebooks:
        name = os.path.splitext(os.path.basename(path))[0]
        nb = nbformat.read(path, as_version=4)
        os.environ["AEKERAS_LECTURE"] = name.split("_")[0]
        print(f"[book] {name} ...", flush=True)
        start = time.perf_counter()
        error = ""
        try:
            NotebookClient(
                nb, timeout=args.timeout, kernel_name="python3",
                resources={"metadata": {"path": os.path.dirname(path)}},
            ).execute()  # fmt: skip
        except Exception as err:  # noqa: BLE001 - keep building the rest, report at the end
            error = f"{type(err).__name__}: {str(err).splitlines()[-1] if str(err) else ''}"
            failed.append(name)
        seconds = time.perf_counter() - start
        if not error and stderr_outputs(nb):
            error = f"{stderr_outputs(nb)} output(s) on stderr"
            failed.append(name)
        body, _ = exporter.from_notebook_node(nb)
        body = body.replace("<!-- Load mathjax -->", "<!-- Load mathjax -->" + MATHJAX_FONTS, 1)
        # require.js serves widgets, which no lecture keeps; nbconvert would load it from a CDN.
        body = body.replace(f'<script src="{exporter.require_js_url}"></script>', "", 1)
        with open(os.path.join(out, name + ".html"), "w") as f:
            f.write(body)
        earlier[name] = (name, title_of(nb, name), seconds, error)
        write_entries(out, profile_name, earlier)
        print(f"[book] {name}: {seconds:.0f} s {'FAILED ' + error if error else 'ok'}", flush=True)

    results_md = write_markdown(
        os.path.join(out, "results.md"), os.path.join(results_dir, "results.jsonl")
    )
    # The results as a real table (nbconvert's Markdown renderer, without results.md's own
    # heading), scrolling rather than cut off.
    results_html = markdown2html_mistune(results_md.partition("\n\n")[2])
    shots = sorted(glob.glob(os.path.join(out, "screenshots", "*.png")))
    screenshots = "".join(
        f"<li><a href='screenshots/{html.escape(os.path.basename(p))}'>"
        f"{html.escape(os.path.basename(p)[:-4].replace('_', ' '))}</a></li>"
        for p in shots
    )
    screenshots = (
        f"<h2>The course in JupyterLab (browser tests)</h2><ol>{screenshots}</ol>" if shots else ""
    )
    rows = "\n".join(
        f"<tr><td><a href='{html.escape(n)}.html'>{html.escape(t)}</a></td><td>{s:.0f} s</td>"
        f"<td>{'<b>failed</b>: ' + html.escape(e) if e else 'ok'}</td></tr>"
        for n, t, s, e in (earlier[k] for k in sorted(earlier))
    )
    index = f"""<!doctype html><html><head><meta charset="utf-8"><title>aekeras course</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}td,th{{padding:.3em 1em;text-align:left}}
.results{{overflow-x:auto}}.results table{{border-collapse:collapse;font-size:90%}}.results td,.results th{{border-bottom:1px solid #ddd;vertical-align:top}}</style>
</head><body><h1>Autoencoders in Keras 3: the course</h1>
<p>Executed with profile <code>{html.escape(profile_name)}</code>.</p>
<table><tr><th>lecture</th><th>run time</th><th>status</th></tr>
{rows}</table><h2>Results</h2>
<p>The headline numbers the lectures recorded in this run. Where a lecture compares with a
published number, <i>paper</i> gives it and its source, and <i>ratio</i> is ours / the paper's;
a shortened profile or other data is not the paper's experiment (see <i>profile</i>, <i>data</i>).</p>
<div class="results">{results_html}</div>{screenshots}</body></html>"""
    with open(os.path.join(out, "index.html"), "w") as f:
        f.write(index)
    with open(os.path.join(out, "timings.json"), "w") as f:
        json.dump({n: s for n, _, s, _ in earlier.values()}, f, indent=1)
    print(f"[book] wrote {os.path.join(out, 'index.html')} and results.md")
    if failed:
        print(f"[book] failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
