"""``hcfl web``: a read-only, live page of a deployment, built from the chain alone.

``chain_reader`` reads the node (head, logs, views; no key), ``model`` folds the
events into rounds (with ``contracts.round_view``, as every other reader), ``descriptions`` fetches and checks the proposals' documents,
``watch`` follows the chain in a thread and keeps the page rendered (``page``, the
templates and ``plots``), and ``app`` serves it (Starlette and uvicorn).
"""
