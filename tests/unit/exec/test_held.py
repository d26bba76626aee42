"""flux_shell.held: a shell's events numbered, kept until acknowledged,
given again to a new reader; orders read line by line."""

import socket

from flux_shell.held import HeldEvents, read_orders


def _seqs(items):
    return [item[0] for item in items]


def test_lines_numbered_sent_and_acknowledged():
    events = HeldEvents()
    events.add(b'{"ev":"a"}\nnot json\n{"ev":"b"}\n')
    assert [line for _, line, _ in events.held] == [
        b'{"seq":1,"ev":"a"}\n', b'{"seq":2,"ev":"b"}\n']
    written = []
    events.send(lambda data: written.append(data) or True)
    # in one write
    assert written == [b'{"seq":1,"ev":"a"}\n{"seq":2,"ev":"b"}\n']
    assert not events.held and _seqs(events.sent) == [1, 2]
    events.ack(1)
    assert _seqs(events.sent) == [2]
    assert events.size == len(b'{"seq":2,"ev":"b"}\n')


def test_a_failed_write_keeps_and_a_new_reader_gets_the_rest_again():
    events = HeldEvents()
    events.add(b'{"ev":"a"}\n{"ev":"b"}\n')
    calls = []

    def write(data):
        calls.append(data)
        return len(calls) < 2      # the broker goes away at the second
    events.send(write)
    events.add(b'{"ev":"c"}\n{"ev":"d"}\n')
    events.send(write)
    assert _seqs(events.sent) == [1, 2] and _seqs(events.held) == [3, 4]
    events.resend()
    assert _seqs(events.held) == [1, 2, 3, 4] and not events.sent


def test_final_lines_outlive_acknowledgements():
    events = HeldEvents()
    events.add(b'{"ev":"shell-exit"}\n', final=True)
    events.send(lambda line: True)
    events.ack(99)
    assert _seqs(events.sent) == [1]
    events.clear()
    assert (events.held, events.sent, events.size) == ([], [], 0)


def test_orders_split_on_lines_and_end_of_connection():
    a, b = socket.socketpair()
    try:
        a.sendall(b'{"op":"kill"}\n[1]\nbad\n{"op":"in')
        orders, rest = read_orders(b, b"")
        assert orders == [{"op": "kill"}] and rest == b'{"op":"in'
        a.sendall(b'put"}\n')
        orders, rest = read_orders(b, rest)
        assert orders == [{"op": "input"}] and rest == b""
        a.close()
        assert read_orders(b, b"x") == (None, b"x")
    finally:
        b.close()
