"""The review app: `linker review`, a Textual terminal UI over linker's review session.

It imports only linker's public API (`from linker import ...`); linker never imports it. The
`linker review` command finds it through the `linker.apps` entry point (pyproject.toml).
"""
