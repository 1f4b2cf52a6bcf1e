"""Executes every lecture notebook and writes a browsable HTML course into ``build/``.

    python tools/build_book.py [--timeout SECONDS] [--only 01 02]

Writes ``build/<notebook>.html`` (figures embedded), ``build/index.html`` linking them with
their run times, and ``build/results.md`` with the headline numbers the lectures recorded
(:mod:`aekeras.results`). Runs under the profile in ``$AEKERAS_PROFILE``. Exits non-zero
when a notebook fails, after building the rest.
"""

import argparse
import glob
import html
import json
import os
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
    if os.path.exists(os.path.join(results_dir, "results.jsonl")) and not args.only:
        os.remove(os.path.join(results_dir, "results.jsonl"))

    from aekeras.profiles import get_profile
    from aekeras.results import write_markdown

    profile = os.environ.get("AEKERAS_PROFILE", "auto")
    notebooks = sorted(glob.glob(os.path.join(ROOT, "course", "*.ipynb")))
    if args.only:
        notebooks = [p for p in notebooks if os.path.basename(p).startswith(tuple(args.only))]
    if not notebooks:
        print("No lecture notebooks found in course/.", file=sys.stderr)
        return 1
    exporter = HTMLExporter()
    entries, failed = [], []
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
        body, _ = exporter.from_notebook_node(nb)
        with open(os.path.join(out, name + ".html"), "w") as f:
            f.write(body)
        entries.append((name, title_of(nb, name), seconds, error))
        print(f"[book] {name}: {seconds:.0f} s {'FAILED ' + error if error else 'ok'}", flush=True)

    results_md = write_markdown(
        os.path.join(out, "results.md"), os.path.join(results_dir, "results.jsonl")
    )
    # The results as a real table (nbconvert's Markdown renderer), scrolling rather than cut off.
    results_html = markdown2html_mistune(results_md)
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
        for n, t, s, e in entries
    )
    index = f"""<!doctype html><html><head><meta charset="utf-8"><title>aekeras course</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}td,th{{padding:.3em 1em;text-align:left}}
.results{{overflow-x:auto}}.results table{{border-collapse:collapse}}.results td,.results th{{border-bottom:1px solid #ddd}}</style>
</head><body><h1>Autoencoders in Keras 3: the course</h1>
<p>Executed with profile <code>{html.escape(get_profile(profile).name)}</code>.</p>
<table><tr><th>lecture</th><th>run time</th><th>status</th></tr>
{rows}</table><h2>Results</h2><div class="results">{results_html}</div>{screenshots}</body></html>"""
    with open(os.path.join(out, "index.html"), "w") as f:
        f.write(index)
    with open(os.path.join(out, "timings.json"), "w") as f:
        json.dump({n: s for n, _, s, _ in entries}, f, indent=1)
    print(f"[book] wrote {os.path.join(out, 'index.html')} and results.md")
    if failed:
        print(f"[book] failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
