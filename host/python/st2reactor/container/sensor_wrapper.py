"""StackStorm's SensorService: what a sensor reaches through self.sensor_service.

  dispatch(trigger, payload=None, trace_tag=None)
  dispatch_with_context(trigger, payload=None, trace_context=None)
  get_logger(name)
  list_values / get_value / set_value / delete_value     (gale_shim.datastore.DatastoreService)

A dispatch goes to the sensor host, which validates the payload against the trigger type's
payload_schema, signs the trigger instance and puts it on the bus. Like StackStorm's, dispatch
returns None, and a payload the host refuses (it violates the schema, or the trigger type is not
one of the pack's) is logged as a warning, not raised. trace_tag is accepted; Gale gives every
trigger instance a fresh trace id.
"""

import logging

from gale_shim.channel import ChannelError
from gale_shim.datastore import DatastoreService

__all__ = ["SensorService"]


class SensorService:
    def __init__(self, channel, sensor_ref, pack, class_name, logger=None):
        self._channel = channel
        self._sensor_ref = sensor_ref
        self._class_name = class_name
        self._logger = logger or logging.getLogger("st2reactor.sensor." + sensor_ref)
        self._datastore_service = DatastoreService(channel, pack, class_name, self._logger)

    @property
    def datastore_service(self):
        return self._datastore_service

    def get_logger(self, name):
        return logging.getLogger("%s.%s" % (self._sensor_ref, name))

    def dispatch(self, trigger, payload=None, trace_tag=None):
        return self.dispatch_with_context(trigger, payload=payload, trace_context=trace_tag)

    def dispatch_with_context(self, trigger, payload=None, trace_context=None):
        if isinstance(trigger, dict):  # a trigger dict, as add_trigger receives them
            trigger = trigger.get("type") or trigger.get("ref")
        fields = {"sensor": self._sensor_ref, "trigger": trigger, "payload": payload}
        if isinstance(trace_context, str):
            fields["trace_tag"] = trace_context
        try:
            self._channel.request("dispatch", **fields)
        except ChannelError as e:
            self._logger.warning('Failed to dispatch trigger "%s": %s', trigger, e)
        except (TypeError, ValueError) as e:  # a payload json cannot encode
            self._logger.warning('Failed to dispatch trigger "%s": payload: %s', trigger, e)
        return None

    def list_values(self, local=True, prefix=None, limit=None, offset=0):
        return self._datastore_service.list_values(local=local, prefix=prefix, limit=limit,
                                                   offset=offset)

    def get_value(self, name, local=True, scope="system", decrypt=False):
        return self._datastore_service.get_value(name, local=local, scope=scope, decrypt=decrypt)

    def set_value(self, name, value, ttl=None, local=True, scope="system", encrypt=False):
        return self._datastore_service.set_value(name, value, ttl=ttl, local=local, scope=scope,
                                                 encrypt=encrypt)

    def delete_value(self, name, local=True, scope="system"):
        return self._datastore_service.delete_value(name, local=local, scope=scope)
