"""Headline numbers of the lectures, recorded so ``make book`` can tabulate them.

A notebook calls ``record("ae30_test_sse", 3.4, note="per-image squared error")``, or prints
a whole table and records every number in it with one call to :func:`table`; each record
carries the run's profile, Keras backend and dataset source. Records go to
``$AEKERAS_RESULTS_DIR/results.jsonl`` (default ``~/.aekeras/results``); ``make book`` points
that at ``build/results`` and writes ``build/results.md`` with :func:`write_markdown`.
"""

import datetime
import json
import os

RESULTS_ENV = "AEKERAS_RESULTS_DIR"


def results_dir() -> str:
    return os.path.expanduser(os.environ.get(RESULTS_ENV, os.path.join("~", ".aekeras", "results")))


def _path():
    return os.path.join(results_dir(), "results.jsonl")


def record(key, value, note="", lecture=None, source=None, profile=None, paper=None):
    """Stores one headline number; returns None, so a cell that ends with it shows no stray value.

    Args:
        key: a short name, e.g. ``"pca30_test_sse"``.
        value: a number (or a short string).
        note: what the number is, in words.
        lecture: the notebook, e.g. ``"02"``; defaults to ``$AEKERAS_LECTURE`` if set.
        source: the dataset source (``data.source``).
        profile: the run budget; default: the current profile's name.
        paper: the published number this one stands beside, as `(value, citation)`, e.g.
            `(3.00, "Hinton & Salakhutdinov 2006, Fig. 2")`; `make book` shows it, its source
            and the ratio ours / paper's.
    """
    import keras

    from aekeras.profiles import get_profile

    if hasattr(value, "item"):
        value = value.item()
    entry = {
        "lecture": lecture or os.environ.get("AEKERAS_LECTURE", ""),
        "key": str(key),
        "value": value,
        "note": note,
        "source": source or "",
        "profile": profile or get_profile().name,
        "backend": keras.backend.backend(),
        "time": datetime.datetime.now().isoformat(timespec="seconds"),
    }
    if paper is not None:
        paper_value, citation = _check_paper(paper, key)
        entry["paper"] = paper_value
        entry["paper_source"] = citation
    os.makedirs(results_dir(), exist_ok=True)
    with open(_path(), "a") as f:
        f.write(json.dumps(entry) + "\n")


def _check_paper(paper, key):
    try:
        paper_value, citation = paper
    except (TypeError, ValueError):
        raise ValueError(
            f"`paper` for {key!r} must be a pair (value, citation), e.g. "
            f'(3.00, "Hinton & Salakhutdinov 2006, Fig. 2"); got {paper!r}.'
        ) from None
    if hasattr(paper_value, "item"):
        paper_value = paper_value.item()
    if not citation or not isinstance(citation, str):
        raise ValueError(f"`paper` for {key!r} needs a citation string; got {citation!r}.")
    return paper_value, citation


def _slug(text):
    keep = "".join(c.lower() if c.isalnum() else "_" for c in str(text))
    return "_".join(part for part in keep.split("_") if part)


def _cell(value, fmt):
    if isinstance(value, str):
        return value
    if value is None:
        return "—"
    if hasattr(value, "item"):
        value = value.item()
    return format(value, fmt) if isinstance(value, float) else str(value)


def table(rows, *, lecture, source, prefix="", note="", fmt=".4f", record_values=True, papers=None):
    """Prints `rows` as an aligned table and records every number in it; returns None.

    Args:
        rows: `{row name: {column name: value}}`, e.g.
            `{"VAE": {"reconstruction": 95.2, "KL": 15.5}}`. Strings are printed, not recorded;
            `None` prints as a dash.
        lecture: the notebook, e.g. `"09"`.
        source: the dataset source (`data.source`).
        prefix: the start of every key; a number is recorded as
            `{prefix}_{row}_{column}`, lower case with `_` for anything else.
        note: what the numbers are, in words (each record's note is `"{note}: {row}, {column}"`).
        fmt: format of floats (`format(value, fmt)`).
        record_values: `False` prints without recording.
        papers: the published numbers beside ours, `{row: {column: (value, citation)}}`; each is
            printed in a `paper` column with the ratio ours / paper's and its citation under the
            table, and stored with the record of the same cell (see :func:`record`).

    Example:

    ```python
    results.table({"AE-30": {"test SSE": 3.4}, "PCA-30": {"test SSE": 13.9}},
                  lecture="02", source=data.source, prefix="mnist")
    ```
    """
    if not rows:
        raise ValueError("`rows` is empty: nothing to show.")
    papers = {
        name: {column: _check_paper(paper, f"{name}, {column}") for column, paper in cols.items()}
        for name, cols in (papers or {}).items()
    }
    for name, cols in papers.items():
        for column in cols:
            if name not in rows or column not in rows[name]:
                raise ValueError(
                    f"`papers` names the cell ({name!r}, {column!r}), which is not in `rows`."
                )
    columns = []
    for values in rows.values():
        columns += [c for c in values if c not in columns]
    header, getters = [""], []
    for c in columns:
        header.append(str(c))
        getters.append(lambda name, c=c: _cell(rows[name].get(c), fmt))
        if any(c in cols for cols in papers.values()):  # the paper's number and ours / paper's
            one = sum(any(k in cols for cols in papers.values()) for k in columns) == 1
            header += ["paper", "ours/paper"] if one else [f"{c}: paper", f"{c}: ours/paper"]
            getters += [
                lambda name, c=c: _cell(papers.get(name, {}).get(c, (None,))[0], fmt),
                lambda name, c=c: _ratio(rows[name].get(c), papers.get(name, {}).get(c)),
            ]
    cells = [[str(name)] + [get(name) for get in getters] for name in rows]
    widths = [max(len(str(x)) for x in column) for column in zip(header, *cells)]
    lines = [
        "  ".join(
            (x.ljust(w) if i == 0 else x.rjust(w)) for i, (x, w) in enumerate(zip(line, widths))
        ).rstrip()
        for line in [header, *cells]
    ]
    citations = dict.fromkeys(c for cols in papers.values() for _, c in cols.values())
    text = "\n".join(lines + [f"paper: {c}" for c in citations])
    print(text)
    if record_values:
        for name, values in rows.items():
            for column, value in values.items():
                if value is None or isinstance(value, str):
                    continue
                key = "_".join(part for part in (_slug(prefix), _slug(name), _slug(column)) if part)
                described = f"{note}: {name}, {column}" if note else f"{name}, {column}"
                paper = papers.get(name, {}).get(column)
                record(key, value, note=described, lecture=lecture, source=source, paper=paper)


def _ratio(value, paper):
    value = value.item() if hasattr(value, "item") else value
    if paper is None or not isinstance(value, int | float) or not paper[0]:
        return "—"
    return f"{value / paper[0]:.2f}"


def load(path=None):
    """All records, the latest per (lecture, key, profile, backend)."""
    path = path or _path()
    if not os.path.exists(path):
        return []
    latest = {}
    with open(path) as f:
        for line in f:
            if line.strip():
                e = json.loads(line)
                latest[(e["lecture"], e["key"], e["profile"], e["backend"])] = e
    return sorted(latest.values(), key=lambda e: (e["lecture"], e["profile"], e["key"]))


def _fmt(value):
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def write_markdown(out_path, path=None):
    """Writes the records as a Markdown table; returns the text.

    Where a record carries a published number, the table gives it, its citation and the ratio
    ours / paper's.
    """
    rows = load(path)
    lines = [
        "# Results",
        "",
        "| lecture | key | value | paper | ratio | note | profile | backend | data |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for e in rows:
        paper = e.get("paper")
        ratio = ""
        if isinstance(paper, int | float) and isinstance(e["value"], int | float) and paper:
            ratio = f"{e['value'] / paper:.3g}"
        cells = [
            e["lecture"],
            e["key"],
            _fmt(e["value"]),
            f"{_fmt(paper)} ({e.get('paper_source', '')})" if paper is not None else "",
            ratio,
            e["note"],
            e["profile"],
            e["backend"],
            e["source"],
        ]
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    text = "\n".join(lines) + "\n"
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    with open(out_path, "w") as f:
        f.write(text)
    return text
