"""The Python child of a pack's sensor host: runs the pack's StackStorm sensors.

Started by `gale sensor-host` (host/sensors/python_sensors.h) as
    <python> -s -B <shim>/gale_shim/sensor_wrapper.py --pack-dir DIR
with descriptor 3, its channel to the host, descriptor 4, the host's seccomp filter as
classic BPF programs (per program: a native uint32 instruction count, then its instructions),
and descriptor 5, on which the host sends rule trigger changes (no answer):
    {"op": "add_trigger" | "update_trigger" | "remove_trigger", "sensor": REF, "trigger": {...}}
The filter is loaded before any of the pack is read, so pack code runs exactly as confined as
the host's own threads (no exec, the `default` profile's deny-list). The host then sends one
"start" message naming the sensors to run (the ones partitioning gave this node).

Each sensor runs on its own thread: setup(), add_trigger() for each rule trigger, then run() (a
Sensor) or poll() every poll_interval seconds (a PollingSensor). As in StackStorm, an exception
escaping setup(), run() or poll(), or a sensor that cannot be imported, ends this process
(code 1): the host then exits, and the supervisor restarts it with backoff and marks the pack
failed if it keeps crashing. On SIGTERM every sensor's cleanup() runs, then the process exits.

Trigger changes sent later (a rule created, changed, deleted, enabled or disabled) are called on
a second thread of the sensor, one at a time and in the order sent, once its setup() and first
add_trigger() calls have returned; a hook that raises is logged (as StackStorm's trigger watcher
does) and the sensor keeps running.
"""

import ctypes
import importlib.util
import json
import logging
import os
import queue
import signal
import socket
import struct
import sys
import threading
import time
import traceback

CHANNEL_FD = 3
FILTER_FD = 4
HOOKS_FD = 5
MAX_MESSAGE = 1 << 20
HOOKS = ("add_trigger", "update_trigger", "remove_trigger")

log = logging.getLogger("sensor-wrapper")


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def load_filter(fd):
    """Loads the host's seccomp programs on this (still single-threaded) process. Fails closed."""
    size = os.fstat(fd).st_size
    data = os.pread(fd, size, 0)
    os.close(fd)
    if not data:
        raise RuntimeError("the host sent no seccomp filter")
    libc = ctypes.CDLL(None, use_errno=True)
    prctl = libc.prctl
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2
    offset = 0
    while offset < len(data):
        (count,) = struct.unpack_from("=I", data, offset)
        offset += 4
        program = data[offset:offset + count * 8]
        offset += count * 8
        if len(program) != count * 8 or count == 0 or count > 0xFFFF:
            raise RuntimeError("malformed seccomp program from the host")
        buffer = ctypes.create_string_buffer(program, len(program))
        fprog = _SockFprog(count, ctypes.cast(buffer, ctypes.c_void_p))
        if prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fprog), 0, 0) != 0:
            err = ctypes.get_errno()
            raise OSError(err, "seccomp: " + os.strerror(err))


def configure_logging(pack):
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter(
            "%(asctime)s.%(msecs)03d [%(levelname)s] [python-sensors " + pack + "] %(name)s: %(message)s",
            datefmt="%Y-%m-%dT%H:%M:%S",
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)


def crash(ref, what):
    """An exception escaped pack code: StackStorm ends the sensor's process, and so does Gale."""
    log.error("%s: %s raised; ending the sensor process\n%s", ref, what, traceback.format_exc())
    sys.stderr.flush()
    os._exit(1)


_modules = {}  # file -> module: two sensor classes in one file share one import


def load_class(spec):
    path = spec["file"]
    directory = os.path.dirname(path)
    if directory not in sys.path:
        sys.path.insert(0, directory)  # sibling modules import as they do in StackStorm
    module = _modules.get(path)
    if module is None:
        name = os.path.splitext(os.path.basename(path))[0]
        module_spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules.setdefault(name, module)
        module_spec.loader.exec_module(module)
        _modules[path] = module
    cls = getattr(module, spec["class_name"], None)
    if cls is None:
        raise ImportError("%s defines no class %s" % (path, spec["class_name"]))
    return cls


class RunningSensor:
    def __init__(self, spec, instance, polling):
        self.spec = spec
        self.ref = spec["ref"]
        self.instance = instance
        self.polling = polling
        self.set_up = threading.Event()
        self.thread = None
        self.hooks = queue.Queue()  # (hook name, trigger dict), from the host

    def call_hook(self, hook, trigger):
        try:
            getattr(self.instance, hook)(trigger)
        except BaseException:  # SystemExit too: the hook thread must outlive any hook
            log.error("%s: %s(%s) raised; the sensor keeps running\n%s", self.ref, hook,
                      trigger.get("id"), traceback.format_exc())

    def serve_hooks(self, stop):
        """The trigger changes the host sends, after setup() and the first add_trigger() calls:
        one at a time, so a sensor never sees two hooks at once (run() or poll() may still run
        beside them, as in StackStorm)."""
        self.set_up.wait()
        while not stop.is_set():
            try:
                hook, trigger = self.hooks.get(timeout=0.5)
            except queue.Empty:
                continue
            self.call_hook(hook, trigger)

    def drive(self, stop):
        try:
            self.instance.setup()
        except BaseException:
            crash(self.ref, "setup()")
        for trigger in self.spec.get("triggers", []):
            self.call_hook("add_trigger", trigger)
        self.set_up.set()
        if not self.polling:
            try:
                self.instance.run()
            except BaseException:
                if stop.is_set():
                    return  # cleanup() may make a blocked run() raise
                crash(self.ref, "run()")
            if not stop.is_set():
                log.warning("%s: run() returned before stop", self.ref)
            return
        # Fixed rate, as the host's native polling sensors: the next poll is due one interval
        # after the previous one started; an overrun polls again at once.
        due = time.monotonic()
        while not stop.is_set():
            try:
                self.instance.poll()
            except BaseException:
                crash(self.ref, "poll()")
            due += float(self.instance.get_poll_interval())
            now = time.monotonic()
            due = max(due, now)  # overran: poll again at once, do not try to catch up
            stop.wait(due - now)


def serve_trigger_changes(running, stop):
    """Until stopped: the host's trigger changes, each queued for its sensor's hook thread."""
    by_ref = {r.ref: r for r in running}
    hooks = socket.socket(fileno=HOOKS_FD)
    hooks.settimeout(0.5)
    while not stop.is_set():
        try:
            data = hooks.recv(MAX_MESSAGE)
        except socket.timeout:
            continue
        except OSError:
            data = b""
        if not data:
            break  # the host closed it: it is stopping
        try:
            message = json.loads(data.decode("utf-8"))
            sensor = by_ref.get(message.get("sensor"))
            hook = message.get("op")
            trigger = message.get("trigger")
        except (ValueError, AttributeError):
            log.warning("ignored a trigger change that is not a JSON object")
            continue
        if sensor is None or hook not in HOOKS or not isinstance(trigger, dict):
            log.warning("ignored a trigger change: %r", data[:200])
            continue
        sensor.hooks.put((hook, trigger))
    while not stop.wait(0.5):
        pass


def main():
    from gale_shim.channel import Channel
    from st2reactor.container.sensor_wrapper import SensorService
    from st2reactor.sensor.base import PollingSensor

    load_filter(FILTER_FD)
    sock = socket.socket(fileno=CHANNEL_FD)
    data = sock.recv(MAX_MESSAGE)
    if not data:
        return 0  # the host ended before starting us
    start = json.loads(data.decode("utf-8"))
    configure_logging(start.get("pack", "?"))
    channel = Channel(sock)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    running = []
    for spec in start.get("sensors", []):
        try:
            cls = load_class(spec)
            service = SensorService(channel, spec["ref"], start["pack"], spec["class_name"],
                                    logging.getLogger(spec["ref"]))
            polling = issubclass(cls, PollingSensor)
            kwargs = {"sensor_service": service, "config": start.get("config") or {}}
            if polling:
                kwargs["poll_interval"] = spec.get("poll_interval", 60)
            instance = cls(**kwargs)
        except BaseException:
            crash(spec.get("ref", "?"), "loading the sensor")
        running.append(RunningSensor(spec, instance, polling))
    for r in running:
        r.thread = threading.Thread(target=r.drive, args=(stop,), name=r.ref, daemon=True)
        r.thread.start()
        threading.Thread(target=r.serve_hooks, args=(stop,), name=r.ref + " hooks",
                         daemon=True).start()
    for r in running:
        while not r.set_up.wait(0.2):
            if stop.is_set():
                break
    channel.request("ready", running=len(running))
    log.info("running %d Python sensor(s): %s", len(running), ", ".join(r.ref for r in running))

    serve_trigger_changes(running, stop)
    for r in running:
        try:
            r.instance.cleanup()
        except BaseException:
            log.error("%s: cleanup() raised\n%s", r.ref, traceback.format_exc())
    for r in running:
        if r.polling:
            r.thread.join(2)
    log.info("stopped")
    sys.stderr.flush()
    os._exit(0)  # run() threads may still block in pack code


if __name__ == "__main__":
    # The script's own folder is sys.path[0]: a pack module named like a shim module must not
    # be shadowed by it. The shim is on PYTHONPATH.
    if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
        sys.path.pop(0)
    try:
        sys.exit(main())
    except Exception:
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(2)
