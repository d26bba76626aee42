"""An MPI-style PMI-1 program (simple wire protocol over ``PMI_FD``):
every rank puts its business card (its broker's rundir and its pid),
crosses a barrier, reads every other rank's card and checks it.  Prints
``RANK/SIZE ok BROKER BROKERS NCARDS`` (its broker, those of every card)
and exits 0, or names what was wrong and exits 1.  ``garbage`` as argument sends
a line the protocol does not have; ``abort`` calls PMI_Abort."""

import os
import socket
import sys


def main(argv):
    fd = int(os.environ["PMI_FD"])
    rank = int(os.environ["PMI_RANK"])
    size = int(os.environ["PMI_SIZE"])
    sock = socket.socket(fileno=fd)
    f = sock.makefile("rwb", buffering=0)

    def call(line, expect):
        f.write((line + "\n").encode())
        reply = f.readline().decode().split()
        fields = dict(t.partition("=")[::2] for t in reply)
        if fields.get("cmd") != expect:
            sys.exit(f"rank {rank}: {line!r} -> {reply!r}")
        return fields

    if argv[1:] == ["garbage"]:
        f.write(b"\x00this is not pmi\n")
        f.readline()
        return 3
    call("cmd=init pmi_version=1 pmi_subversion=1", "response_to_init")
    maxes = call("cmd=get_maxes", "maxes")
    assert int(maxes["vallen_max"]) >= 64
    assert call("cmd=get_appnum", "appnum")["appnum"] == "0"
    kvs = call("cmd=get_my_kvsname", "my_kvsname")["kvsname"]
    if argv[1:] == ["abort"]:
        f.write(f"cmd=abort exitcode=7 error_msg=rank-{rank}-gives-up\n"
                .encode())
        f.readline()
        return 3
    broker = os.environ.get("FLUX_URI", "").rsplit("/", 2)[-2]
    card = f"card:{rank}:{broker}:{os.getpid()}"
    put = call(f"cmd=put kvsname={kvs} key=bc-{rank} value={card}",
               "put_result")
    assert put["rc"] == "0", put
    call("cmd=barrier_in", "barrier_out")
    cards = {}
    for r in range(size):
        got = call(f"cmd=get kvsname={kvs} key=bc-{r}", "get_result")
        if got["rc"] != "0" or not got["value"].startswith(f"card:{r}:"):
            sys.exit(f"rank {rank}: card of rank {r}: {got!r}")
        cards[r] = got["value"]
    assert cards[rank] == card
    missing = call(f"cmd=get kvsname={kvs} key=nope", "get_result")
    assert missing["rc"] != "0"
    # a second round: the barrier works again
    call(f"cmd=put kvsname={kvs} key=round2-{rank} value={rank * 10}",
         "put_result")
    call("cmd=barrier_in", "barrier_out")
    second = [call(f"cmd=get kvsname={kvs} key=round2-{r}",
                   "get_result")["value"] for r in range(size)]
    assert second == [str(r * 10) for r in range(size)], second
    call("cmd=finalize", "finalize_ack")
    brokers = sorted({c.split(":")[2] for c in cards.values()})
    print(f"{rank}/{size} ok {broker} {','.join(brokers)} {len(cards)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
