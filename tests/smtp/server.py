#!/usr/bin/env python3
"""A real SMTP server for Tally's end-to-end tests (aiosmtpd over TCP).

Stores every accepted message, exactly as received (after SMTP dot-unstuffing), as one
file `<n>.eml` in --dir, next to `<n>.rcpt` (the envelope recipients, one per line).
Binds --port (0 = any free port) on 127.0.0.1 and prints `PORT <n>` once listening.

  --reject ADDR     answer 550 to RCPT TO:<ADDR> (repeatable): a permanent refusal
  --tempfail N      answer 451 to the first N messages' DATA: a temporary failure
Keeps `connections.json` in --dir: connections opened in all, and the most open at once.

  --hold ADDR       hold the DATA reply of a message to ADDR (repeatable) until a file
                    named `release` appears in --dir: a relay that is slow for one message
"""
import argparse
import asyncio
import json
import os
import sys

from aiosmtpd.smtp import SMTP


class Sink:
    def __init__(self, directory, rejected, tempfail, held):
        self.directory = directory
        self.rejected = {a.lower() for a in rejected}
        self.held = {a.lower() for a in held}
        self.tempfail = tempfail
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.rejected:
            return "550 5.1.1 <%s>: recipient rejected" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if any(a.lower() in self.held for a in envelope.rcpt_tos):
            while not os.path.exists(os.path.join(self.directory, "release")):
                await asyncio.sleep(0.02)
        if self.tempfail > 0:
            self.tempfail -= 1
            return "451 4.3.0 temporarily unavailable, try again later"
        self.count += 1
        base = os.path.join(self.directory, "%06d" % self.count)
        with open(base + ".tmp", "wb") as f:
            f.write(envelope.original_content)
        with open(base + ".rcpt", "w") as f:
            f.write("\n".join(envelope.rcpt_tos) + "\n")
        os.rename(base + ".tmp", base + ".eml")
        return "250 2.0.0 stored"


class Connections:
    """Counts the server's connections into <dir>/connections.json."""

    def __init__(self, directory):
        self.path = os.path.join(directory, "connections.json")
        self.opened = self.open = self.peak = 0

    def change(self, delta):
        self.open += delta
        self.opened += max(delta, 0)
        self.peak = max(self.peak, self.open)
        with open(self.path + ".tmp", "w") as f:
            json.dump({"opened": self.opened, "peak": self.peak}, f)
        os.replace(self.path + ".tmp", self.path)


class CountedSMTP(SMTP):
    def __init__(self, handler, connections, **kwargs):
        super().__init__(handler, **kwargs)
        self.connections = connections

    def connection_made(self, transport):
        self.connections.change(+1)
        super().connection_made(transport)

    def connection_lost(self, error):
        self.connections.change(-1)
        super().connection_lost(error)


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--reject", action="append", default=[])
    parser.add_argument("--tempfail", type=int, default=0)
    parser.add_argument("--hold", action="append", default=[])
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    sink = Sink(args.dir, args.reject, args.tempfail, args.hold)
    connections = Connections(args.dir)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: CountedSMTP(sink, connections, decode_data=False, hostname="smtp.test", ident="tally-test-smtp"),
        host="127.0.0.1",
        port=args.port,
        reuse_address=True,
    )
    port = server.sockets[0].getsockname()[1]
    print("PORT %d" % port, flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
