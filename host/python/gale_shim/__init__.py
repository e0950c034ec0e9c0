"""Gale's side of the StackStorm shim: what st2common and st2reactor are built on.

Nothing here is StackStorm's API; pack code imports st2common and st2reactor only.
"""
