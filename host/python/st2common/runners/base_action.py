"""StackStorm's Action base class (st2common.runners.base_action), as python-script actions use it:

    from st2common.runners.base_action import Action

    class Greet(Action):
        def run(self, name):
            self.logger.info("greeting %s", name)
            return "hello " + name

`self.config` is the pack's config, `self.logger` a logger named "actions.python.<class>" that
writes to stderr, `self.action_service` the datastore calls (get_value, set_value, delete_value,
list_values; host/python/gale_shim/datastore.py has their signatures).
"""

import abc
import os
import sys

__all__ = ["Action", "ActionService"]


def _level(name):
    import logging

    from st2common.log import AUDIT

    name = (name or "DEBUG").upper()
    if name == "NOTSET":
        return logging.DEBUG
    if name == "AUDIT":
        return AUDIT
    return getattr(logging, name, logging.DEBUG)


def get_logger_for_python_runner_action(action_name, log_level="DEBUG"):
    """StackStorm's: one stderr handler per logger, "%(name)-12s: %(levelname)-8s %(message)s"."""
    import logging  # here: an action that never logs does not pay for the import

    logger = logging.getLogger("actions.python.%s" % action_name)
    level = _level(log_level)
    if not getattr(logger, "_gale_configured", False):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(name)-12s: %(levelname)-8s %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
        logger._gale_configured = True
    for handler in logger.handlers:
        handler.setLevel(level)
    logger.setLevel(level)
    return logger


class ActionService:
    """`self.action_service`. The channel to the runner's datastore socket is opened on the first
    datastore call, from GALE_DATASTORE_SOCKET and GALE_DATASTORE_TOKEN (set by the runner)."""

    def __init__(self, pack=None, class_name=None, log_level="DEBUG"):
        self.pack = pack or os.environ.get("ST2_ACTION_PACK_NAME", "")
        self.class_name = class_name or ""
        self.log_level = log_level
        self._datastore = None

    @property
    def datastore_service(self):
        if self._datastore is None:
            from gale_shim.channel import Channel
            from gale_shim.datastore import DatastoreService

            path = os.environ.get("GALE_DATASTORE_SOCKET")
            token = os.environ.get("GALE_DATASTORE_TOKEN")
            if not path or not token:
                raise RuntimeError(
                    "the datastore is not available to this action: the runner gave it no "
                    "datastore socket (GALE_DATASTORE_SOCKET and GALE_DATASTORE_TOKEN are unset)"
                )
            channel = Channel.connect(path, hello={"op": "hello", "token": token})
            logger = get_logger_for_python_runner_action(self.class_name, self.log_level)
            self._datastore = DatastoreService(channel, self.pack, self.class_name, logger)
        return self._datastore

    def get_value(self, name, local=True, scope="system", decrypt=False):
        return self.datastore_service.get_value(name, local=local, scope=scope, decrypt=decrypt)

    def set_value(self, name, value, ttl=None, local=True, scope="system", encrypt=False):
        return self.datastore_service.set_value(
            name, value, ttl=ttl, local=local, scope=scope, encrypt=encrypt
        )

    def delete_value(self, name, local=True, scope="system"):
        return self.datastore_service.delete_value(name, local=local, scope=scope)

    def list_values(self, local=True, prefix=None, limit=None, offset=0):
        return self.datastore_service.list_values(
            local=local, prefix=prefix, limit=limit, offset=offset
        )


class Action(abc.ABC):
    description = None

    def __init__(self, config=None, action_service=None):
        self.config = config or {}
        if action_service is None:
            action_service = ActionService(class_name=self.__class__.__name__)
        self.action_service = action_service

    # Made on first use (logging's import is a good part of a short action's start-up); an
    # action may also assign its own.
    @property
    def logger(self):
        logger = self.__dict__.get("_logger")
        if logger is None:
            logger = get_logger_for_python_runner_action(
                action_name=self.__class__.__name__,
                log_level=getattr(self.action_service, "log_level", "DEBUG"),
            )
            self.__dict__["_logger"] = logger
        return logger

    @logger.setter
    def logger(self, value):
        self.__dict__["_logger"] = value

    @abc.abstractmethod
    def run(self, **kwargs):
        raise NotImplementedError
