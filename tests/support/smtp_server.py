"""A real SMTP server for the tests: aiosmtpd (the maintained asyncio SMTP server) on a
loopback port, requiring AUTH with one user and password, printing each message it accepts
as one JSON line on stdout.

Usage: smtp_server.py PORT USER PASSWORD   (prints "ready" once listening; stops at EOF on stdin)
"""

import json
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Keep:
    async def handle_DATA(self, server, session, envelope):
        print(json.dumps({
            "login": session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None,
            "from": envelope.mail_from,
            "to": envelope.rcpt_tos,
            "data": envelope.content.decode("utf-8", "replace"),
        }), flush=True)
        return "250 2.0.0 Ok: kept"


def only(user: str, password: str):
    def check(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == user
            and auth_data.password.decode() == password
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    return check


def main() -> None:
    port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    controller = Controller(
        Keep(),
        hostname="127.0.0.1",
        port=port,
        authenticator=only(user, password),
        auth_required=True,
        # Loopback, in a test: no certificate to present.
        auth_require_tls=False,
    )
    controller.start()
    print("ready", flush=True)
    sys.stdin.read()
    controller.stop()


if __name__ == "__main__":
    main()
