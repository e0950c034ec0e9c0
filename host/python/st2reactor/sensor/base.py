"""StackStorm's sensor base classes: `from st2reactor.sensor.base import Sensor, PollingSensor`.

A pack's sensor subclasses one of them. Gale's sensor wrapper (gale_shim/sensor_wrapper.py)
constructs it with a sensor_service and the pack's config (<packs.configs_path>/<pack>.yaml,
else the pack's config.yaml, with config.schema.yaml's defaults: what the pack's actions get),
calls setup(), then run() on a thread of its own (a Sensor), or poll() every poll_interval
seconds (a PollingSensor), and cleanup() when the node stops it.

The trigger hooks follow the rules (of any pack) that use one of the sensor's trigger types, as
StackStorm's: add_trigger() once for each enabled rule after setup() and before run(), then,
while the sensor runs, add_trigger() when such a rule is created or enabled, update_trigger()
when its trigger parameters change, and remove_trigger() when it is deleted or disabled. The
sensor is not restarted for these, whichever pack the rule is in (a change to the sensor's own
pack outside its rules/ folder still restarts it, as does a change of its config). Later
calls come from another thread than run() or poll(), one at a time in the order of the changes;
an exception a hook raises is logged and the sensor keeps running. Each trigger is a dict:
id and uid (from the rule's ref), ref and type (the trigger type), name, pack and parameters.
"""

import abc

__all__ = ["BaseSensor", "Sensor", "PollingSensor"]


class BaseSensor(metaclass=abc.ABCMeta):
    """What every sensor implements."""

    def __init__(self, sensor_service, config=None):
        self._sensor_service = sensor_service
        self.sensor_service = sensor_service
        self._config = config or {}
        self.config = self._config

    @abc.abstractmethod
    def setup(self):
        """Runs once, before run() or the first poll()."""

    @abc.abstractmethod
    def run(self):
        """The sensor's work."""

    @abc.abstractmethod
    def cleanup(self):
        """Runs once when the sensor is stopped."""

    @abc.abstractmethod
    def add_trigger(self, trigger):
        """A trigger (a dict: ref, type, parameters, ...) of a rule using this sensor's types."""

    @abc.abstractmethod
    def update_trigger(self, trigger):
        """A trigger's parameters changed."""

    @abc.abstractmethod
    def remove_trigger(self, trigger):
        """A trigger is no longer used."""


class Sensor(BaseSensor):
    """A sensor whose run() does the work (and usually blocks)."""

    @abc.abstractmethod
    def run(self):
        pass


class PollingSensor(BaseSensor):
    """A sensor whose poll() is called every poll_interval seconds."""

    def __init__(self, sensor_service, config=None, poll_interval=5):
        super().__init__(sensor_service=sensor_service, config=config)
        self._poll_interval = poll_interval

    @abc.abstractmethod
    def poll(self):
        """One round of polling; dispatches through self.sensor_service."""

    def run(self):
        # What StackStorm's base class does; Gale's wrapper drives poll() itself, so that a stop
        # request ends the loop between polls.
        import time

        while True:
            self.poll()
            time.sleep(self._poll_interval)

    def get_poll_interval(self):
        return self._poll_interval

    def set_poll_interval(self, poll_interval):
        self._poll_interval = poll_interval
