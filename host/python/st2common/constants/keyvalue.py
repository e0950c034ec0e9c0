"""StackStorm's datastore scope names (st2common.constants.keyvalue)."""

from gale_shim.datastore import ALLOWED_SCOPES, SYSTEM_SCOPE, USER_SCOPE  # noqa: F401

FULL_SYSTEM_SCOPE = "st2kv.system"
FULL_USER_SCOPE = "st2kv.user"
DATASTORE_KEY_SEPARATOR = ":"
