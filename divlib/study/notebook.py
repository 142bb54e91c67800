"""Run a parameterised notebook with papermill and export it as one self-contained, byte-stable page.

The executed notebook drops what changes from run to run (papermill's timings and paths, execution
timestamps, random cell ids); the HTML has outputs and Markdown only, images embedded, and loads no
script from the internet (the report has no math, widgets or diagrams).
"""

import tempfile
from pathlib import Path

import jupytext
import nbformat
import papermill
from jinja2 import DictLoader
from nbconvert import HTMLExporter

from divlib.errors import DivlibError

# JupyterLab's template without its CDN scripts (require.js, MathJax, mermaid), which the report needs
# not, and with each PNG's alternative text taken from its output metadata ("alt")
OFFLINE_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block data_png scoped -%}
<div class="jp-RenderedImage jp-OutputArea-output {{ extra_class }}">
<img src="data:image/png;base64,{{ output.data['image/png'] | escape_html }}"
alt="{{ output | get_metadata('alt', 'image/png') | escape_html }}">
</div>
{%- endblock data_png -%}
"""
PAPERMILL_KEPT = ("default_parameters", "parameters", "version")  # the rest: timings, paths
CELL_TIMINGS = ("start_time", "end_time", "duration")
QUIET_KERNEL = "--IPKernelApp.log_level=ERROR"  # no "running over TCP without encryption" notice


def execute(path: Path, parameters: dict, cwd: Path) -> nbformat.NotebookNode:
    """Run the notebook at ``path`` (.ipynb, or a jupytext .py) with papermill, then :func:`normalise`."""
    notebook = jupytext.read(path) if path.suffix == ".py" else nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory() as folder:
        source, target = Path(folder) / "input.ipynb", Path(folder) / "output.ipynb"
        nbformat.write(notebook, source)
        try:
            executed = papermill.execute_notebook(
                str(source),
                str(target),
                parameters=parameters,
                kernel_name="python3",
                progress_bar=False,
                cwd=str(cwd),
                extra_arguments=[QUIET_KERNEL],
            )
        except papermill.PapermillExecutionError as error:
            raise DivlibError(
                f"{path.name} failed in cell {error.exec_count}: {error.ename}: {error.evalue}"
            ) from error
    return normalise(executed)


def normalise(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Drop what changes from run to run: papermill's timings and paths, nbclient's execution
    timestamps and random cell ids (numbered instead)."""
    papermill_meta = notebook.metadata.get("papermill", {})
    notebook.metadata["papermill"] = {
        k: papermill_meta[k] for k in PAPERMILL_KEPT if k in papermill_meta
    }
    for number, cell in enumerate(notebook.cells):
        cell["id"] = f"cell-{number}"
        cell.metadata.pop("execution", None)
        for key in CELL_TIMINGS:
            cell.metadata.get("papermill", {}).pop(key, None)
    return notebook


def to_html(notebook: nbformat.NotebookNode, title: str) -> str:
    """The notebook as one HTML page: outputs and Markdown only, images embedded, no remote script."""
    exporter = HTMLExporter(
        template_name="lab",
        extra_loaders=[DictLoader({"offline.html.j2": OFFLINE_TEMPLATE})],
        template_file="offline.html.j2",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        embed_images=True,
    )
    html, _ = exporter.from_notebook_node(notebook, resources={"metadata": {"name": title}})
    return html
