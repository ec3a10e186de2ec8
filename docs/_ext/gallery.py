"""Builds the example gallery from ``examples/**/*.py`` at the start of every docs build.

Each script becomes a page with its module docstring as the text and its source below it;
plots that the script saved under ``examples/<area>/out/*.png`` are shown when present.
The pages are generated into ``docs/gallery/`` (not tracked), so adding an example never
means editing the docs.
"""

import ast
import shutil
from pathlib import Path


def _pages(examples: Path):
    for script in sorted(examples.rglob("*.py")):
        if script.name.startswith("_") or "out" in script.parts:
            continue
        doc = ast.get_docstring(ast.parse(script.read_text())) or ""
        yield script, doc


def generate(app):
    docs = Path(app.srcdir)
    examples = docs.parent / "examples"
    out = docs / "gallery"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    entries = []
    for script, doc in _pages(examples):
        rel = script.relative_to(examples)
        name = "_".join(rel.with_suffix("").parts)
        title = f"{rel.parent.as_posix()}/{rel.name}" if rel.parent.parts else rel.name
        lines = [f"# {title}", "", doc or "(no description)", ""]
        for png in sorted((script.parent / "out").glob(f"{script.stem}*.png")):
            target = out / f"{name}_{png.name}"
            shutil.copy(png, target)
            lines += [f"![{png.name}]({target.name})", ""]
        depth = "../" * 1
        lines += [f"```{{literalinclude}} {depth}../examples/{rel.as_posix()}",
                  ":language: python", "```", ""]
        (out / f"{name}.md").write_text("\n".join(lines))
        entries.append(name)
    index = ["# Examples", "",
             "Runnable scripts under `examples/`; each prints its results and saves its plots "
             "under `examples/<area>/out/`. Most take `--quick`.", "",
             "```{toctree}", ":maxdepth: 1", ""] + entries + ["```", ""]
    (out / "index.md").write_text("\n".join(index))


def setup(app):
    app.connect("builder-inited", generate)
    return {"parallel_read_safe": True}
