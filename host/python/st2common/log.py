"""`from st2common import log as logging`: StackStorm's logging module, reduced to what pack code
calls. Loggers are the standard library's; StackStorm's AUDIT level is registered."""

import logging as _logging
from logging import CRITICAL, DEBUG, ERROR, INFO, NOTSET, WARNING  # noqa: F401

AUDIT = _logging.CRITICAL + 10
_logging.addLevelName(AUDIT, "AUDIT")
_logging.AUDIT = AUDIT


def getLogger(name):  # noqa: N802 (StackStorm's name)
    return _logging.getLogger(name)


get_logger = getLogger


def setup(*args, **kwargs):
    """StackStorm configures logging from st2.conf here; Gale's actions log to stderr."""
