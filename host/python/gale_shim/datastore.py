"""StackStorm's datastore calls (the methods of action_service and sensor_service), over a
Channel. Signatures and return values are StackStorm's (st2common's DatastoreService):

  get_value(name, local=True, scope='system', decrypt=False)      -> str or None
  set_value(name, value, ttl=None, local=True, scope='system', encrypt=False) -> True
  delete_value(name, local=True, scope='system')                  -> bool (whether it existed)
  list_values(local=True, prefix=None, limit=None, offset=0)      -> [KeyValuePair]

`local=True` prefixes the name with "<pack>.<class name>:", as StackStorm does, so two actions
or sensors never share a key by accident. What a caller may read and write is decided by the
node, by the pack it started the process for, never by what the request says.

Messages (op and fields; fields at their defaults are left out):
  get     name, scope, decrypt
  set     name, value, scope, ttl, encrypt
  delete  name, scope
  list    prefix, scope      -> [{"name", "value", "secret", "scope", "expire_timestamp"}]
  dispatch trigger, payload, trace_tag -> {"id", "trigger", "trace_id"}   (actions only)

Scope "user" is the keys of the execution's user (actions only). Writes (set, delete) take only
names of the caller's own pack, "<pack>." (which every local=True name is); reads are open.
"""

SYSTEM_SCOPE = "system"
USER_SCOPE = "user"
ALLOWED_SCOPES = (SYSTEM_SCOPE, USER_SCOPE)


class KeyValuePair:
    """What list_values returns, with st2client's attribute names."""

    def __init__(self, name, value, secret=False, scope=SYSTEM_SCOPE, expire_timestamp=None):
        self.name = name
        self.value = value
        self.secret = secret
        self.scope = scope
        self.expire_timestamp = expire_timestamp

    def __repr__(self):
        return "<KeyValuePair name=%s,value=%s>" % (self.name, self.value)


class DatastoreService:
    def __init__(self, channel, pack_name, class_name, logger):
        self._channel = channel
        self._pack_name = pack_name
        self._class_name = class_name
        self._logger = logger

    def _key_prefix(self):
        return "%s.%s:" % (self._pack_name, self._class_name)

    def _name(self, name, local):
        return self._key_prefix() + name if local else name

    @staticmethod
    def _check_scope(scope):
        if scope not in ALLOWED_SCOPES:
            raise ValueError(
                'Scope %s is unsupported. Allowed scopes are: %s.' % (scope, ", ".join(ALLOWED_SCOPES))
            )

    def _request(self, op, scope, **fields):
        self._check_scope(scope)
        if self._channel is None:
            raise RuntimeError("the datastore is not available to this process")
        if scope != SYSTEM_SCOPE:
            fields["scope"] = scope
        return self._channel.request(op, **fields)

    def get_value(self, name, local=True, scope=SYSTEM_SCOPE, decrypt=False):
        fields = {"name": self._name(name, local)}
        if decrypt:
            fields["decrypt"] = True
        return self._request("get", scope, **fields)

    def set_value(self, name, value, ttl=None, local=True, scope=SYSTEM_SCOPE, encrypt=False):
        if not isinstance(value, str):
            raise ValueError("value must be a string (StackStorm stores strings; json.dumps it)")
        fields = {"name": self._name(name, local), "value": value}
        if ttl is not None:
            fields["ttl"] = int(ttl)
        if encrypt:
            fields["encrypt"] = True
        self._request("set", scope, **fields)
        return True

    def delete_value(self, name, local=True, scope=SYSTEM_SCOPE):
        return bool(self._request("delete", scope, name=self._name(name, local)))

    def dispatch(self, trigger, payload=None, trace_tag=None):
        """Fires a trigger instance (StackStorm's core.inject_trigger): the node checks that the
        trigger type exists and the payload matches its payload_schema, then publishes it as a
        webhook's. Returns {"id", "trigger", "trace_id"} of the instance."""
        if self._channel is None:
            raise RuntimeError("the datastore is not available to this process")
        fields = {"trigger": trigger, "payload": payload if payload is not None else {}}
        if trace_tag is not None:
            fields["trace_tag"] = trace_tag
        return self._channel.request("dispatch", **fields)

    def list_values(self, local=True, prefix=None, limit=None, offset=0):
        key_prefix = self._key_prefix() if local else ""
        if prefix:
            key_prefix += prefix
        fields = {"prefix": key_prefix} if key_prefix else {}
        items = self._request("list", SYSTEM_SCOPE, **fields) or []
        items = items[offset:]
        if limit:
            items = items[:limit]
        return [
            KeyValuePair(
                i.get("name"),
                i.get("value"),
                i.get("secret", False),
                i.get("scope", SYSTEM_SCOPE),
                i.get("expire_timestamp"),
            )
            for i in items
        ]
