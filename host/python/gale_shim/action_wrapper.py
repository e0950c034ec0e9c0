"""The python-script runner's child: StackStorm's python_action_wrapper, for Gale's sandbox.

The runner (host/runner/launch.cpp) starts, inside the action's sandbox:

    <python> -I -B -u <shim>/gale_shim/action_wrapper.py

with <python> the pack's virtualenv interpreter, else /usr/bin/python3. -I: PYTHON* variables,
the user's site directory and this file's directory are not used, sys.path is built here; -B: no
.pyc written (pack copies and virtualenvs are shared, read-only); -u: unbuffered output, so what
the action prints reaches the execution's live output as it is printed.

stdin (one JSON object, read whole before the action is loaded; never argv, which every local
user can read):
    parameters        the action's parameters (the runner's own, such as timeout, left out)
    config            the pack's config (self.config)
    entry_point       absolute path of the action's .py file
    action, pack      the action's ref and pack
    execution_id
    log_level         self.logger's level (DEBUG, INFO, ..., AUDIT)
    python_path       directories put first on sys.path (the shim, the pack's actions/ and
                      actions/lib), as StackStorm's PYTHONPATH
    result_delimiter  a string random per execution

What the action writes on stdout and stderr is the execution's stdout and stderr. After run()
returns (or raises), the wrapper writes, on a duplicate of its original stdout taken before the
action was loaded (so an action that closes or replaces stdout cannot lose it):

    <result_delimiter>{"status": true|false|null, "result": ..., "error": ..., "traceback": ...}<result_delimiter>

and the runner cuts that block out of stdout (host/runner/finish.cpp). The action cannot print
the block by chance: the delimiter is random and it was read from stdin before the action ran.

The rules are StackStorm's:
  - the Action class is the one subclass of st2common.runners.base_action.Action that the file
    defines (when it defines several, the one the others do not derive from; an imported one
    when it defines none); it is built with the pack config (Action(config=..., action_service=
    ...), or Action(config=...) and action_service assigned after, for older classes);
  - run(**parameters) returns the result; a (bool, result) tuple also sets the status (False:
    failed); a result that is not JSON is recorded as its str();
  - an exception fails the execution: its traceback goes to stderr, as Python prints it, and to
    the block (`error`: its last line, `traceback`: the whole); exit code 1;
  - sys.exit(code) ends the execution with that exit code (non-zero: failed).
"""

# Start-up is most of a short action's time: only what every run needs is imported here
# (traceback, for instance, only when run() raised; importlib.util and inspect never). Not even
# the json package: importing it compiles regular expressions, which costs as much CPU as the
# interpreter's own start; its C half (_json) reads and writes the two documents alone.
import importlib._bootstrap
import importlib._bootstrap_external
import os
import sys

try:
    import _json
except ImportError:  # an interpreter without the C accelerator
    _json = None

EXIT_ACTION_FAILED = 1
EXIT_BAD_INPUT = 2


class _DecodeContext:
    """What _json's scanner reads from a json.JSONDecoder, with json.loads' defaults."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    memo = None

    @staticmethod
    def parse_constant(name):
        return {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}[name]


def _not_json(value):
    raise TypeError("Object of type %s is not JSON serializable" % type(value).__name__)


def _loads(text):
    if _json is None:
        import json

        return json.loads(text)
    value, end = _json.make_scanner(_DecodeContext())(text, 0)
    if text[end:].strip():
        raise ValueError("extra data after the JSON document, at %d" % end)
    return value


def _dumps(value):
    """json.dumps(value, allow_nan=False)."""
    if _json is None:
        import json

        return json.dumps(value, allow_nan=False)
    encode = _json.make_encoder(
        {}, _not_json, _json.encode_basestring_ascii, None, ": ", ", ", False, False, False
    )
    return "".join(encode(value, 0))


def _write_all(fd, data):
    while data:
        written = os.write(fd, data)
        data = data[written:]


def _load_module(path):
    name = os.path.splitext(os.path.basename(path))[0]
    # StackStorm puts the action's own directory on sys.path (actions/ usually, already there).
    directory = os.path.dirname(path)
    if directory not in sys.path:
        sys.path.insert(0, directory)
    # importlib.util's spec_from_file_location and module_from_spec, without importing it.
    spec = importlib._bootstrap_external.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError("cannot load %s as a Python module" % path)
    module = importlib._bootstrap.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _action_class(module, path):
    from st2common.runners.base_action import Action

    found = [
        c
        for c in vars(module).values()
        if isinstance(c, type) and issubclass(c, Action) and c is not Action
    ]
    own = [c for c in found if c.__module__ == module.__name__]
    candidates = own or found
    # A file defining a base class and its action keeps the action: the class no other derives
    # from.
    leaves = [c for c in candidates if not any(o is not c and issubclass(o, c) for o in candidates)]
    if len(leaves) == 1:
        return leaves[0]
    if not leaves:
        raise TypeError(
            "%s defines no Action class (a subclass of st2common.runners.base_action.Action)" % path
        )
    raise TypeError(
        "%s defines more than one Action class: %s"
        % (path, ", ".join(sorted(c.__name__ for c in leaves)))
    )


def _instantiate(cls, config, action_service):
    from st2common.runners.base_action import get_logger_for_python_runner_action

    # StackStorm's get_action_class_instance: older classes take no action_service.
    try:
        return cls(config=config, action_service=action_service)
    except TypeError as e:
        if "action_service" not in str(e):
            raise
    instance = cls(config=config)
    instance.action_service = action_service
    if "_logger" in vars(instance):  # made in __init__, before its level was known
        get_logger_for_python_runner_action(cls.__name__, action_service.log_level)
    return instance


def _as_json(value):
    try:
        _dumps(value)
        return value
    except (TypeError, ValueError):
        return str(value)


def _run(request):
    from st2common.runners.base_action import ActionService

    path = request["entry_point"]
    module = _load_module(path)
    cls = _action_class(module, path)
    service = ActionService(
        pack=request.get("pack"), class_name=cls.__name__, log_level=request.get("log_level")
    )
    action = _instantiate(cls, request.get("config") or {}, service)
    output = action.run(**(request.get("parameters") or {}))
    if isinstance(output, tuple) and len(output) == 2:
        if not isinstance(output[0], bool):
            raise ValueError(
                "Status returned from the action run() method must either be True or False, "
                "got: %r" % (output[0],)
            )
        return output[0], output[1]
    return None, output


def main():
    # Taken before any pack code runs: the result block's way out.
    result_fd = os.dup(1)
    try:
        request = _loads(sys.stdin.buffer.read().decode("utf-8"))
        delimiter = request["result_delimiter"]
        python_path = [p for p in request.get("python_path", []) if isinstance(p, str)]
    except (ValueError, KeyError, TypeError, StopIteration) as e:
        sys.stderr.write("gale action wrapper: bad input on stdin: %r\n" % e)
        return EXIT_BAD_INPUT
    sys.path[:0] = [p for p in python_path if p not in sys.path]

    block = {"status": None, "result": None}
    code = 0
    try:
        status, result = _run(request)
        block["status"] = status
        block["result"] = _as_json(result)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        if e.code is not None and not isinstance(e.code, int):
            sys.stderr.write("%s\n" % (e.code,))
    except BaseException as e:  # noqa: B036 (KeyboardInterrupt included: it is the action's)
        import traceback

        # Without this file's frames: the traceback starts in the action's code.
        tb = e.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
            tb = tb.tb_next
        lines = traceback.format_exception(type(e), e, tb)
        text = "".join(lines)
        sys.stderr.write(text)
        block["status"] = False
        block["error"] = "".join(traceback.format_exception_only(type(e), e)).strip()
        block["traceback"] = text
        code = EXIT_ACTION_FAILED
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 (the action may have closed or replaced it)
            pass
    data = delimiter + _dumps(block) + delimiter
    try:
        _write_all(result_fd, data.encode("utf-8"))
    except OSError as e:
        sys.stderr.write("gale action wrapper: cannot write the result: %s\n" % e)
        return EXIT_ACTION_FAILED
    return code


if __name__ == "__main__":
    sys.exit(main())
