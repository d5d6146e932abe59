"""nbclient's NotebookClient, speaking JupyterLab's protocol.

JupyterLab sends the id of the cell with every execute request (`metadata.cellId`, beside
`deletedCells` and `recordTiming`) and allows input (`allow_stdin`); nbclient does neither. This
client sends those as JupyterLab does (not the rest of JupyterLab's request: the cell's metadata).
Code that keys on the cell behaves differently without it: `socket2flask.servers` replaces a cell's
servers when the cell runs again, and knows a cell only by that id. Tests and the grader run
notebooks with this client, so they see what a learner in the Lab sees.
"""

from __future__ import annotations

from typing import Any

from nbclient import NotebookClient
from nbclient.util import run_sync
from nbformat import NotebookNode


class LabClient(NotebookClient):
    """A NotebookClient whose execute requests carry `cellId` as JupyterLab's do (set
    `send_cell_ids = False` to run like the classic Notebook, VS Code or plain nbclient)."""

    send_cell_ids = True
    _cell_id: str | None = None

    async def async_execute_cell(
        self,
        cell: NotebookNode,
        cell_index: int,
        execution_count: int | None = None,
        store_history: bool = True,
    ) -> NotebookNode:
        # JupyterLab gives every cell an id; a notebook older than nbformat 4.5 may have none.
        self._cell_id = cell.get("id") or f"cell-{cell_index}"
        return await super().async_execute_cell(cell, cell_index, execution_count, store_history)

    execute_cell = run_sync(async_execute_cell)  # nbclient's own sync form calls its async one

    async def async_start_new_kernel_client(self) -> Any:
        kc = await super().async_start_new_kernel_client()
        kc.execute = self._execute
        return kc

    start_new_kernel_client = run_sync(async_start_new_kernel_client)

    def _execute(self, code: str, store_history: bool = True, stop_on_error: bool = True) -> str:
        """Send an execute request as JupyterLab does; the reply's id, as `KernelClient.execute`."""
        assert self.kc is not None
        # A person at JupyterLab can answer input(): check() only raises where nobody can.
        content = {
            "code": code,
            "silent": False,
            "store_history": store_history,
            "user_expressions": {},
            "allow_stdin": self.send_cell_ids,
            "stop_on_error": stop_on_error,
        }
        metadata = (
            {"cellId": self._cell_id, "deletedCells": [], "recordTiming": False}
            if self.send_cell_ids
            else {}
        )
        message = self.kc.session.msg("execute_request", content, metadata=metadata)
        self.kc.shell_channel.send(message)
        return message["header"]["msg_id"]
