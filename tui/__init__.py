"""The Textual review app (`linker review`): arrives with the review issue.

It will import only linker's public API (`linker.Project`, `linker.decisions`); linker itself
never imports this package.
"""
