"""Runnable examples of every user-facing flow, against `make run` (see README.md; run from the repo root as
`python -m examples.<name> [BASE_URL]`). The docs include these files verbatim: `python -m examples.sync_docs`."""
