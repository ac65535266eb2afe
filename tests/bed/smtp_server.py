"""A throwaway SMTP server for kube-reclaimer's mail tests (started by smtp-up.sh).

Accepts mail on 127.0.0.1:PORT and writes each accepted message to STATE/mail/<n>.eml,
headed by the envelope as the server saw it:

    X-Envelope-From: <sender>
    X-Envelope-To: <recipient>          (one line per RCPT TO)
    X-Bed-TLS: yes|no                   (whether the session was encrypted)
    X-Bed-Auth: <user>|none             (who authenticated, if anyone)

followed by the message exactly as received. Files appear atomically (written under a
temporary name, then renamed), numbered from 1 in the order of acceptance.

Refusals on demand, so tests can check that a refused mail is not counted as sent:
  - RCPT TO an address whose local part starts with `refuse` gets 550;
  - DATA for a message with any recipient whose local part starts with `reject-data`
    gets 554 (nothing is written).

TLS: `none`, `starttls` (STARTTLS required before MAIL) or `tls` (implicit TLS), with
--cert/--key. AUTH (PLAIN, LOGIN) when --user is given, with the password from the
environment variable named by --password-env; then AUTH is required before MAIL.

Needs Python 3 with aiosmtpd (Debian: python3-aiosmtpd). Runs until SIGTERM.
"""

import argparse
import itertools
import logging
import os
import signal
import ssl
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def local_part(address):
    return address.split("@", 1)[0].lower()


class Handler:
    def __init__(self, mail_dir):
        self.mail_dir = mail_dir
        self.counter = itertools.count(1)
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if local_part(address).startswith("refuse"):
            return "550 5.1.1 <%s>: mailbox refused by the test server" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if any(local_part(a).startswith("reject-data") for a in envelope.rcpt_tos):
            return "554 5.6.0 message refused by the test server"
        head = ["X-Envelope-From: <%s>" % envelope.mail_from]
        head += ["X-Envelope-To: <%s>" % a for a in envelope.rcpt_tos]
        transport = server.transport
        encrypted = session.ssl is not None or (
            transport is not None and transport.get_extra_info("ssl_object") is not None)
        head.append("X-Bed-TLS: %s" % ("yes" if encrypted else "no"))
        user = session.auth_data if session.authenticated else None
        head.append("X-Bed-Auth: %s" % (user or "none"))
        content = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode("utf-8")
        data = ("\r\n".join(head) + "\r\n").encode("ascii") + content
        with self.lock:
            n = next(self.counter)
            tmp = os.path.join(self.mail_dir, ".%d.tmp" % n)
            with open(tmp, "wb") as f:
                f.write(data)
            os.rename(tmp, os.path.join(self.mail_dir, "%d.eml" % n))
        return "250 2.0.0 accepted as message %d" % n


class Authenticator:
    def __init__(self, user, password):
        self.user = user.encode("utf-8")
        self.password = password.encode("utf-8")

    def __call__(self, server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == self.user
            and auth_data.password == self.password
        )
        if ok:
            return AuthResult(success=True, auth_data=self.user.decode("utf-8"))
        return AuthResult(success=False, handled=False)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--state", required=True, help="state dir: mail/ is written here")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--tls", choices=["none", "starttls", "tls"], default="none")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--user", help="require AUTH with this user name")
    p.add_argument("--password-env", default="KUBE_RECLAIMER_SMTP_PASSWORD")
    args = p.parse_args()

    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    mail_dir = os.path.join(args.state, "mail")
    os.makedirs(mail_dir, exist_ok=True)

    kwargs = {"hostname": "127.0.0.1", "port": args.port, "server_hostname": "localhost"}
    context = None
    if args.tls != "none":
        if not (args.cert and args.key):
            p.error("--tls %s needs --cert and --key" % args.tls)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)
    if args.tls == "starttls":
        kwargs.update(tls_context=context, require_starttls=True)
    elif args.tls == "tls":
        kwargs.update(ssl_context=context)
    if args.user:
        password = os.environ.get(args.password_env)
        if not password:
            p.error("--user needs the password in the environment variable %s"
                    % args.password_env)
        kwargs.update(authenticator=Authenticator(args.user, password),
                      auth_required=True)

    controller = Controller(Handler(mail_dir), **kwargs)
    controller.start()

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with open(os.path.join(args.state, "smtp.ready"), "w") as f:
        f.write("%d\n" % args.port)
    logging.info("listening on 127.0.0.1:%d (tls %s, auth %s)",
                 args.port, args.tls, "required" if args.user else "off")
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
