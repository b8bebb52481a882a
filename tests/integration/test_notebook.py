"""The example notebook runs, top to bottom, in a real Jupyter kernel against the emulator."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "quickstart.ipynb"


@pytest.mark.timeout(300)
def test_the_quickstart_notebook_runs_and_shows_tables(tmp_path: Path) -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        notebook, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    html = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert any("<td>in_sync</td>" in h for h in html), "the realization report shows as a table"
    assert any("<td>gkebackend</td>" in h and "<td>ACCEPTED</td>" in h for h in html), "the attachments table"
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "<URL>http://orders.example.com/orders</URL>" in text
    # apply() drew one table of its steps, redrawn in place: its last state has every step done
    tables = [o["data"] for o in outputs if o.output_type == "display_data"]
    steps = [data["text/plain"] for data in tables if data.get("text/html", "").startswith("<pre")]
    assert len(steps) == 2, "one table for apply, one for destroy"
    assert "apply: EndpointAttachment gkebackend" in steps[0] and "[ACTIVE/ACCEPTED]" in steps[0]
    assert "…" not in steps[0], "no step left running"
    assert "destroy: ServiceAttachment gkebackend" in steps[1]
