"""The notebook as the agent's workspace: one interface, three backends, five tools.

- :mod:`.base`: the :class:`Notebook` interface and its types.
- :mod:`.protocol`: the request/response protocol between the kernel and the document owner.
- :mod:`.document`: the owner's side over an nbformat notebook (``tinycode run``, tests).
- :mod:`.comm_backend`: the kernel's client of the protocol.
- :mod:`.readonly`: the kernel history, where no owner answers.
- :mod:`.tools`: read_cells, insert_cell, edit_cell, delete_cell, run_cells and the user-cell guard.
- :mod:`.context`: the outline, variables and changes every run gets.
- :mod:`.records`: what the notebook's metadata says about the agent's cells and edits.
- :mod:`.revert`: the owner's ``revert_run``; :mod:`.cell_undo`: the kernel asking for it on ``%agent undo``.
- :mod:`.cell_errors`, :mod:`.fix_prompt`: a cell's error, and the prompt of ``%agent fix``.
- :mod:`.workspace`: one run started from a notebook.
"""
from .base import CellChange, CellInfo, Notebook, NotebookError, NotebookState, RunInfo

__all__ = ["CellChange", "CellInfo", "Notebook", "NotebookError", "NotebookState", "RunInfo"]
