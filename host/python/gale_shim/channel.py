"""One request/answer channel to the node: an AF_UNIX SOCK_SEQPACKET socket carrying one JSON
object per message (host/sensors/broker_protocol.h). Requests carry an "id" that the answer
echoes, so a late answer is never taken for the next request's.

Python actions reach the runner's datastore socket this way (Channel.from_env: the socket and
the execution's token are in GALE_DATASTORE_SOCKET and GALE_DATASTORE_TOKEN, and the first
message is the hello that binds the connection to the execution); Python sensors reach their
sensor host, which relays to the node's broker. The protocol is host/datastore/protocol.h's.
"""

import json
import os
import socket
import threading

MAX_MESSAGE = 1 << 20  # bytes, as kBrokerMaxMessage


class ChannelError(RuntimeError):
    """The node answered ok:false, or the channel is gone."""


class Channel:
    def __init__(self, sock, timeout=30.0):
        self._sock = sock
        self._sock.settimeout(timeout)
        self._lock = threading.Lock()
        self._next_id = 1

    @classmethod
    def from_fd(cls, fd, timeout=30.0):
        return cls(socket.socket(fileno=fd), timeout)

    @classmethod
    def connect(cls, path, hello=None, timeout=30.0):
        """Connects to a listening socket; `hello` (a dict) is the first request, when given."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        sock.connect(path)
        channel = cls(sock, timeout)
        if hello is not None:
            channel.request(**hello)
        return channel

    @classmethod
    def from_env(cls, timeout=30.0, environ=None):
        """The action's channel to its runner's datastore, from the environment the runner set."""
        environ = os.environ if environ is None else environ
        path = environ.get("GALE_DATASTORE_SOCKET")
        token = environ.get("GALE_DATASTORE_TOKEN")
        if not path or not token:
            raise ChannelError(
                "the datastore is not available to this process (GALE_DATASTORE_SOCKET and "
                "GALE_DATASTORE_TOKEN are unset)"
            )
        try:
            return cls.connect(path, hello={"op": "hello", "token": token}, timeout=timeout)
        except OSError as e:
            raise ChannelError("datastore socket %s: %s" % (path, e)) from None

    def request(self, op, **fields):
        """Sends {"op": op, ...fields} and returns the answer's "value"; raises ChannelError."""
        with self._lock:
            message_id = self._next_id
            self._next_id += 1
            message = dict(fields, op=op, id=message_id)
            try:
                self._sock.send(json.dumps(message).encode("utf-8"))
                while True:
                    data = self._sock.recv(MAX_MESSAGE)
                    if not data:
                        raise ChannelError("the node closed the channel")
                    answer = json.loads(data.decode("utf-8"))
                    if answer.get("id") in (None, message_id):
                        break
            except (OSError, ValueError) as e:
                raise ChannelError("%s: %s" % (op, e)) from None
        if not answer.get("ok"):
            raise ChannelError(answer.get("error") or "refused")
        return answer.get("value")

    def close(self):
        self._sock.close()
