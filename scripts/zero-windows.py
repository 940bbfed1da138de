#!/usr/bin/env python3
"""Counts the zero-window advertisements on loopback while a command runs, by which end
sent them: the server (its receive buffer was full) or its clients (theirs was).

`nstat`'s TcpExtTCPToZeroWindowAdv counts them for the whole host and cannot tell the ends
apart; this captures the loopback packets whose TCP window field is 0 (a classic BPF filter
in the kernel, so only those reach this script) and sorts them by port. Needs root
(AF_PACKET). Prints one JSON line; the command's own output goes where it would.

usage: zero-windows.py SERVER_PORT -- CMD ARGS...
"""
import ctypes, json, socket, struct, subprocess, sys, threading, time

ETH_P_ALL = 3
SO_ATTACH_FILTER = 26
PACKET_OUTGOING = 4

# IPv4, TCP, and the window field (after the IP header, whose length the packet gives) 0
FILTER = [
    (0x28, 0, 0, 12), (0x15, 0, 6, 0x0800),   # ethertype IPv4
    (0x30, 0, 0, 23), (0x15, 0, 4, 6),        # protocol TCP
    (0xB1, 0, 0, 14),                         # x = IP header length
    (0x48, 0, 0, 28), (0x15, 0, 1, 0),        # window == 0
    (0x06, 0, 0, 128), (0x06, 0, 0, 0),
]


def main():
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        sys.exit(__doc__)
    port = int(sys.argv[1])
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    prog = ctypes.create_string_buffer(b"".join(struct.pack("HBBI", *i) for i in FILTER))
    s.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER,
                 struct.pack("HL", len(FILTER), ctypes.addressof(prog)))
    s.bind(("lo", 0))
    s.settimeout(0.2)
    counts = {"server": 0, "client": 0, "other": 0}
    done = threading.Event()

    def capture():
        while not done.is_set():
            try:
                pkt, addr = s.recvfrom(256)
            except socket.timeout:
                continue
            # each loopback packet shows twice (out and in): count it once
            if addr[2] != PACKET_OUTGOING:
                continue
            t = 14 + (pkt[14] & 0xF) * 4
            sport, dport = struct.unpack("!HH", pkt[t:t + 4])
            if pkt[t + 13] & 0x06:  # SYN, RST
                continue
            counts["server" if sport == port else "client" if dport == port else "other"] += 1

    th = threading.Thread(target=capture)
    th.start()
    start = time.time()
    rc = subprocess.call(sys.argv[3:])
    wall = time.time() - start
    time.sleep(0.3)
    done.set()
    th.join()
    print(json.dumps({"wall_s": round(wall, 3), "exit": rc, "zero_windows": counts}))
    sys.exit(rc)


if __name__ == "__main__":
    main()
