"""Gale's StackStorm shim: the part of StackStorm's st2common that pack code imports.

Only what actions commonly import at module level is here: st2common.runners.base_action.Action,
st2common.log (as logging), st2common.constants.keyvalue. It runs inside the sandbox, in the
action's own interpreter (host/python/gale_shim/action_wrapper.py starts it).
"""
