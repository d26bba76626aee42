# -*- test-case-name: tests.unit.local.test_commands -*-
"""AMP commands of the local connector (box layout: :mod:`fluxd.client.wire`).

These ``Command`` classes declare the wire layout for AMP peers (the
Twisted client, :mod:`fluxd.client.tx`).  The broker and the stdlib
client read and write the same boxes with the codec's direct encoders
and decoders, which cost a fraction of AMP's generic dispatch on every
RPC; ``tests/unit/local/test_commands.py`` holds both to the same bytes.
"""

from twisted.protocols import amp

from fluxd.client import wire


class BigBytes(amp.Argument):
    """Bytes of any size: chunked over ``name``, ``name.1``, ``name.2``...

    AMP caps one value at 64 KiB; Flux payloads (KVS blobs, job output)
    are larger, so one shared argument type splits and joins them.
    """

    def __init__(self):
        super().__init__(optional=True)

    def fromBox(self, name, strings, objects, proto):
        key = name.decode("ascii")
        objects[key] = wire.get_big(strings, key)
        for k in [k for k in strings if k == name or k.startswith(name + b".")]:
            del strings[k]

    def toBox(self, name, strings, objects, proto):
        key = name.decode("ascii")
        wire.put_big(strings, key, objects.get(key))


class Request(amp.Command):
    """A Flux request; answered with its (final) response."""

    commandName = b"request"
    arguments = [
        (b"topic", amp.Unicode()),
        (b"nodeid", amp.Integer()),
        (b"flags", amp.Integer()),
        (b"matchtag", amp.Integer()),
        (b"payload", BigBytes()),
        (b"userid", amp.Integer(optional=True)),
        (b"rolemask", amp.Integer(optional=True)),
    ]
    response = [
        (b"errnum", amp.Integer()),
        (b"errstr", amp.Unicode(optional=True)),
        (b"payload", BigBytes()),
    ]


class Cancel(amp.Command):
    """End a streaming request (it is answered ECANCELED)."""

    commandName = b"cancel"
    arguments = [(b"matchtag", amp.Integer())]
    requiresAnswer = False


class Response(amp.Command):
    """One response of a streaming request, broker to client."""

    commandName = b"response"
    arguments = [
        (b"matchtag", amp.Integer()),
        (b"errnum", amp.Integer()),
        (b"errstr", amp.Unicode(optional=True)),
        (b"payload", BigBytes()),
    ]
    requiresAnswer = False


class Hello(amp.Command):
    """The first box on every connection: accepted or refused, and who."""

    commandName = b"hello"
    arguments = [
        (b"errnum", amp.Integer()),
        (b"errstr", amp.Unicode(optional=True)),
        (b"userid", amp.Integer()),
        (b"rolemask", amp.Integer()),
        (b"rank", amp.Integer()),
    ]
    requiresAnswer = False
