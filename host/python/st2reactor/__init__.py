"""StackStorm's st2reactor, as far as pack sensors use it (Gale's shim)."""
