#!/usr/bin/env python3
"""A real SMTP server for Tally's end-to-end tests (aiosmtpd over TCP).

Stores every accepted message, exactly as received (after SMTP dot-unstuffing), as one
file `<n>.eml` in --dir, next to `<n>.rcpt` (the envelope recipients, one per line).
Binds --port (0 = any free port) on 127.0.0.1 and prints `PORT <n>` once listening.

  --reject ADDR     answer 550 to RCPT TO:<ADDR> (repeatable): a permanent refusal
  --tempfail N      answer 451 to the first N messages' DATA: a temporary failure
"""
import argparse
import asyncio
import os
import sys

from aiosmtpd.smtp import SMTP


class Sink:
    def __init__(self, directory, rejected, tempfail):
        self.directory = directory
        self.rejected = {a.lower() for a in rejected}
        self.tempfail = tempfail
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.rejected:
            return "550 5.1.1 <%s>: recipient rejected" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
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


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--reject", action="append", default=[])
    parser.add_argument("--tempfail", type=int, default=0)
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    sink = Sink(args.dir, args.reject, args.tempfail)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(sink, decode_data=False, hostname="smtp.test", ident="tally-test-smtp"),
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
