"""A real SMTP server on 127.0.0.1 for the email tests: aiosmtpd with STARTTLS, AUTH and a script.

The TLS certificate is issued for 127.0.0.1 at test time by a throwaway CA (trustme); a client
trusts it through ``ca_file`` (a PEM file) or ``client_tls_context()``, so verification stays on.
AUTH (PLAIN and LOGIN) checks a username and password that a test may change at any time (to
rotate them). Every session is recorded: whether STARTTLS was negotiated, which AUTH attempts were
made with which login and mechanism, and the messages accepted. A ``Script`` makes the server
misbehave as real ones do: busy (421) or failing (451) for the first N sessions, rejecting AUTH
(535), recipients (550) or the message (554).

    with SmtpServer(username="user", password="pass", tmp_dir=tmp_path) as server:
        ...  # connect to server.host, server.port, trust server.ca_file
        [message] = server.messages

Two fault modes for the reliability tests (``tests/test_faults.py``):

- Dropped connections: with ``drop_rate`` (and a ``seed``), a session has that chance of being cut
  at one of ``drop_points`` (``DROP_POINTS``: before the banner, at EHLO, during the STARTTLS
  handshake, at the EHLO over TLS, at AUTH, MAIL FROM, RCPT TO, or once DATA was received but not
  yet answered). A cut is a transport abort, with no reply. ``drop_at`` scripts the first sessions'
  cuts exactly; ``"accepted"`` (not a random point) records the message and then cuts before the
  250, the one cut that makes a client send a duplicate. ``server.drops`` says which happened where.
- Busy for a while: for ``busy_seconds`` after ``start()`` (of the server's ``clock``, which a test
  may inject) or until ``end_busy()``, sessions get 421 as the banner, 421 to EHLO, or 451 at the end
  of DATA, in turn (``BUSY_POINTS``); ``server.busy_replies`` says which.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import email
import itertools
import random
import ssl
import threading
import time
from collections.abc import Callable
from email import policy
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from .servers import Servers

HOST = "127.0.0.1"
# Where a session can be cut, in the order a session reaches them.
DROP_POINTS = ("connect", "ehlo", "starttls", "tls", "auth", "mail", "rcpt", "data")
_TLS_POINTS = frozenset({"starttls", "tls"})
# Not among the random points: the server has accepted the message when it cuts, so the client,
# which never read the 250, sends it again (RFC 1047). For the test of that duplicate only.
ACCEPTED = "accepted"
BUSY_POINTS = ("connect", "ehlo", "data")
# How long a cut session waits for asyncio to notice the abort and cancel it (it never needs that long).
_DROP_WAIT_SECONDS = 5.0


@dataclasses.dataclass(frozen=True)
class Script:
    """How the server misbehaves; the default is a well-behaved SES-like server."""

    starttls: bool = True  # offer STARTTLS (without it, AUTH is offered in clear: a trap for clients)
    mechanisms: tuple[str, ...] = ("LOGIN", "PLAIN")
    busy_sessions: int = 0  # the first N sessions get busy_reply to EHLO
    busy_reply: str = "421 4.3.2 Service not available, try again later"
    data_failures: int = 0  # the first N messages get data_failure_reply at the end of DATA
    data_failure_reply: str = "451 4.3.0 Temporary local problem, try again"
    rejected_recipients: frozenset[str] = frozenset()  # answered reject_reply at RCPT
    reject_reply: str = "550 5.1.1 Mailbox unavailable"
    message_reply: str | None = None  # a final answer to every DATA, e.g. "554 Message rejected"
    # Some servers name the login in their refusal: clients must not copy it into their errors.
    auth_failure_reply: str = "535 5.7.8 Authentication credentials invalid for {login}"
    # Cut connections: each session is cut with probability drop_rate, at the next point of a
    # shuffled deck of drop_points (so every point comes up once per len(drop_points) cuts);
    # drawn from random.Random(seed), session after session, so a run is repeatable.
    drop_rate: float = 0.0
    seed: int = 0
    drop_points: tuple[str, ...] = DROP_POINTS
    drop_at: tuple[str | None, ...] = ()  # session n (from 1) is cut at drop_at[n - 1]; None: not cut
    # Busy for a while (see the module docstring); the server's clock decides when it is over.
    busy_seconds: float = 0.0
    busy_connect_reply: str = "421 4.3.2 Service not available, closing transmission channel"
    busy_data_reply: str = "451 4.3.0 Temporary local problem, try again later"
    # Hang up after this many messages in a session, once the 250 is sent (0: never), as servers
    # that take one message per connection do: a client reusing the session finds it closed.
    messages_per_session: int = 0


@dataclasses.dataclass
class AuthAttempt:
    mechanism: str
    login: str
    success: bool
    over_tls: bool


@dataclasses.dataclass
class ReceivedMessage:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    over_tls: bool
    login: str | None  # the authenticated user

    def parsed(self) -> EmailMessage:
        message = email.message_from_bytes(self.data, policy=policy.default)
        assert isinstance(message, EmailMessage)
        return message


@dataclasses.dataclass
class SessionRecord:
    number: int  # from 1, in the order connections arrived
    ehlo: list[str] = dataclasses.field(default_factory=list)
    starttls: bool = False  # a TLS handshake completed after STARTTLS
    tls_version: str | None = None
    auth: list[AuthAttempt] = dataclasses.field(default_factory=list)
    messages: list[ReceivedMessage] = dataclasses.field(default_factory=list)
    replies: list[str] = dataclasses.field(default_factory=list)  # scripted failures sent
    drop: str | None = None  # where this session is to be cut (it may end before getting there)
    dropped: str | None = None  # where it was cut
    busy: str | None = None  # where it is answered busy (BUSY_POINTS)
    noops: int = 0  # NOOP commands (a client checking an idle session)
    quit: bool = False  # the client said QUIT
    closed: bool = False  # the connection has ended (either side)


class _RecordingSMTP(SMTP):
    record: SessionRecord
    owner: SmtpServer

    def connection_lost(self, error: Exception | None) -> None:
        self.record.closed = True
        with self.owner.lock:
            if self in self.owner._live:
                self.owner._live.remove(self)
        super().connection_lost(error)

    async def smtp_NOOP(self, arg: str) -> None:
        self.record.noops += 1
        await super().smtp_NOOP(arg)

    async def smtp_DATA(self, arg: str) -> None:
        await super().smtp_DATA(arg)
        limit = self.owner.script.messages_per_session
        if limit and len(self.record.messages) >= limit:
            await self.hang_up(None)

    async def smtp_QUIT(self, arg: str) -> None:
        self.record.quit = True
        await super().smtp_QUIT(arg)

    async def hang_up(self, reply: str | None) -> None:
        """Close this session from the server's side, as an idle timeout does (a reply first, if any)."""
        if reply is not None:
            await self.push(reply)
        # The socket itself, with a FIN (cut() resets it): a TLS layer's close would wait for the
        # client's close_notify, which a client not reading never sends.
        transport = self._original_transport or self.transport
        if transport is not None:
            transport.close()

    def cuts_at(self, point: str) -> bool:
        return self.record.drop == point and self.record.dropped is None

    async def cut(self, point: str) -> None:
        """Abort the connection here, with no reply: the client sees a reset or an EOF."""
        self.record.dropped = point
        # After STARTTLS, self.transport is the TLS layer over _original_transport: abort the socket.
        transport = self._original_transport or self.transport
        assert isinstance(transport, asyncio.Transport)
        transport.abort()
        # connection_lost() cancels this session's task, so nothing more is read or written;
        # waiting for that keeps aiosmtpd from answering the command being cut.
        await asyncio.sleep(_DROP_WAIT_SECONDS)
        raise ConnectionResetError(f"cut at {point}")

    async def _handle_client(self) -> None:
        if self.cuts_at("connect"):
            await self.cut("connect")
        if self.record.busy == "connect":
            # A busy server may answer the connection with 421 instead of 220, and hang up (RFC 5321 3.8).
            reply = self.owner.script.busy_connect_reply
            self.record.replies.append(reply)
            await self.push(reply)
            assert self.transport is not None
            self.transport.close()
            return
        await super()._handle_client()

    async def smtp_STARTTLS(self, arg: str) -> None:
        if self.cuts_at("starttls") and not arg and self.tls_context:
            # The client reads "go ahead", starts its handshake, and the server is gone.
            await self.push("220 Ready to start TLS")
            await self.cut("starttls")
        await super().smtp_STARTTLS(arg)

    async def smtp_AUTH(self, arg: str) -> None:
        if self.cuts_at("auth"):
            await self.cut("auth")
        await super().smtp_AUTH(arg)

    async def smtp_MAIL(self, arg: str | None) -> None:
        if self.cuts_at("mail"):
            await self.cut("mail")
        await super().smtp_MAIL(arg)

    async def smtp_RCPT(self, arg: str | None) -> None:
        if self.cuts_at("rcpt"):
            await self.cut("rcpt")
        await super().smtp_RCPT(arg)


class _Handler:
    """aiosmtpd hooks: the handler sees every session through the ``server`` argument."""

    def __init__(self, owner: SmtpServer) -> None:
        self.owner = owner

    async def handle_EHLO(
        self, server: _RecordingSMTP, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        record = server.record
        record.ehlo.append(hostname)
        if session.ssl is not None and not record.starttls:
            record.starttls = True
            ssl_object = session.ssl.get("ssl_object")
            record.tls_version = ssl_object.version() if ssl_object is not None else None
        if server.cuts_at("tls" if record.starttls else "ehlo"):
            await server.cut("tls" if record.starttls else "ehlo")
        script = self.owner.script
        if record.busy == "ehlo":
            record.replies.append(script.busy_reply)
            return [script.busy_reply]
        if record.number <= script.busy_sessions:
            record.replies.append(script.busy_reply)
            return [script.busy_reply]
        if not script.starttls:
            responses = [line for line in responses if "STARTTLS" not in line]
        session.host_name = hostname  # aiosmtpd leaves this to a handle_EHLO hook
        return responses

    async def handle_RCPT(
        self, server: _RecordingSMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        script = self.owner.script
        if address in script.rejected_recipients:
            server.record.replies.append(script.reject_reply)
            return script.reject_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: _RecordingSMTP, session: Session, envelope: Envelope) -> str:
        owner = self.owner
        script = owner.script
        if server.cuts_at("data"):
            # The whole message arrived, but the server never said 250: it did not take it.
            await server.cut("data")
        if server.record.busy == "data":
            server.record.replies.append(script.busy_data_reply)
            return script.busy_data_reply
        with owner.lock:
            owner.data_commands += 1
            failing = owner.data_commands <= script.data_failures
        if failing:
            server.record.replies.append(script.data_failure_reply)
            return script.data_failure_reply
        if script.message_reply is not None:
            server.record.replies.append(script.message_reply)
            return script.message_reply
        content = envelope.original_content or b""
        login = next((a.login for a in reversed(server.record.auth) if a.success), None)
        received = ReceivedMessage(
            mail_from=str(envelope.mail_from),
            rcpt_tos=list(envelope.rcpt_tos),
            data=bytes(content),
            over_tls=session.ssl is not None,
            login=login,
        )
        server.record.messages.append(received)
        if server.cuts_at(ACCEPTED):
            # Taken and queued, but the 250 never reaches the client: it will send the message again.
            await server.cut(ACCEPTED)
        return "250 2.0.0 Ok: queued"


class _Controller(Controller):
    def __init__(self, owner: SmtpServer, **kwargs: Any) -> None:
        super().__init__(_Handler(owner), hostname=HOST, port=0, **kwargs)
        self.owner = owner

    def factory(self) -> SMTP:
        smtpd = _RecordingSMTP(self.handler, **self.SMTP_kwargs)
        smtpd.owner = self.owner
        smtpd.record = self.owner._new_session()
        with self.owner.lock:
            self.owner._live.append(smtpd)
        return smtpd

    def _trigger_server(self) -> None:
        # Listening on port 0: learn the port the system chose before aiosmtpd connects to it.
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


class SmtpServer:
    def __init__(
        self,
        tmp_dir: Path,
        username: str = "smtp-user",
        password: str = "smtp-password",
        script: Script | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.username = username
        self.password = password
        self.script = script or Script()
        self.clock = clock
        self.lock = threading.Lock()
        self.sessions: list[SessionRecord] = []
        self._live: list[_RecordingSMTP] = []  # the sessions still connected
        self.data_commands = 0
        unknown = set(self.script.drop_points) - set(DROP_POINTS) - {ACCEPTED}
        assert not unknown, f"unknown drop points: {unknown}"
        self._random = random.Random(self.script.seed)
        self._deck: list[str] = []
        # Faults start with the first client: aiosmtpd's own start-up connection must get a banner.
        self._armed = False
        self._busy_until = float("-inf")
        self._busy_sessions = 0
        self._running = False
        tmp_dir.mkdir(parents=True, exist_ok=True)
        self.ca = trustme.CA()
        certificate = self.ca.issue_cert(HOST)
        self.ca_file = tmp_dir / "smtp-test-ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        certificate.configure_cert(server_tls)
        excluded = [m for m in ("LOGIN", "PLAIN") if m not in self.script.mechanisms]
        self._controller = _Controller(
            self,
            server_hostname="smtp.test",
            tls_context=server_tls if self.script.starttls else None,
            # Without TLS the server still offers AUTH in clear, so a careless client would use it.
            auth_require_tls=self.script.starttls,
            authenticator=self._authenticate,
            auth_exclude_mechanism=excluded,
            ready_timeout=5.0,
        )

    # -- recording ------------------------------------------------------------------------------
    def _new_session(self) -> SessionRecord:
        with self.lock:
            record = SessionRecord(number=len(self.sessions) + 1)
            self.sessions.append(record)
            if self._armed:
                record.drop = self._plan_drop(record.number)
                if record.drop is None and self.busy:
                    record.busy = BUSY_POINTS[self._busy_sessions % len(BUSY_POINTS)]
                    self._busy_sessions += 1
            return record

    def _plan_drop(self, number: int) -> str | None:
        script = self.script
        if number <= len(script.drop_at):
            return script.drop_at[number - 1]
        # Drawn for every session, cut or not, so that session n's fate depends on the seed alone.
        if self._random.random() >= script.drop_rate:
            return None
        if not self._deck:
            points = [p for p in script.drop_points if script.starttls or p not in _TLS_POINTS]
            self._random.shuffle(points)
            self._deck = points
        return self._deck.pop()

    @property
    def drops(self) -> list[tuple[int, str]]:
        """The sessions cut, and where: (session number, point)."""
        return [(s.number, s.dropped) for s in self.sessions if s.dropped is not None]

    def drops_by_point(self) -> collections.Counter[str]:
        return collections.Counter(point for _number, point in self.drops)

    @property
    def busy(self) -> bool:
        return self.clock() < self._busy_until

    def end_busy(self) -> None:
        """The busy period is over now, whatever busy_seconds said."""
        with self.lock:
            self._busy_until = float("-inf")

    def hang_up(self, reply: str | None = None) -> int:
        """Close every open session from the server's side, as a server does to idle ones (with
        ``reply`` first, such as a 421, or without a word); returns how many were closed, once they are."""
        with self.lock:
            live = list(self._live)
        loop = self._controller.loop
        for smtpd in live:
            asyncio.run_coroutine_threadsafe(smtpd.hang_up(reply), loop).result(timeout=5)
        deadline = time.monotonic() + 5
        while any(not smtpd.record.closed for smtpd in live) and time.monotonic() < deadline:
            time.sleep(0.005)
        assert all(smtpd.record.closed for smtpd in live), "a session did not close"
        return len(live)

    def take_messages(self) -> list[ReceivedMessage]:
        """The messages received so far, forgotten by the server (a long run keeps no thousands of
        them); the sessions stay recorded. A client has them all once it read the reply to DATA."""
        with self.lock:
            taken = [message for session in self.sessions for message in session.messages]
            for session in self.sessions:
                session.messages = []
        return taken

    def busy_replies(self) -> collections.Counter[str]:
        """How many sessions were answered busy, by point (BUSY_POINTS)."""
        return collections.Counter(s.busy for s in self.sessions if s.busy is not None and s.replies)

    def _authenticate(
        self, server: _RecordingSMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        login = auth_data.login.decode("utf-8", "replace")
        password = auth_data.password.decode("utf-8", "replace")
        with self.lock:
            success = login == self.username and password == self.password
        server.record.auth.append(AuthAttempt(mechanism, login, success, over_tls=session.ssl is not None))
        if success:
            return AuthResult(success=True, auth_data=login)
        reply = self.script.auth_failure_reply.format(login=login)
        server.record.replies.append(reply)
        return AuthResult(success=False, handled=False, message=reply)

    @property
    def messages(self) -> list[ReceivedMessage]:
        return [message for session in self.sessions for message in session.messages]

    @property
    def auth_attempts(self) -> list[AuthAttempt]:
        return [attempt for session in self.sessions for attempt in session.auth]

    def rotate(self, username: str, password: str) -> None:
        """The credentials change on the server (as SES does when an IAM key is rotated)."""
        with self.lock:
            self.username, self.password = username, password

    # -- life cycle -----------------------------------------------------------------------------
    @property
    def host(self) -> str:
        return HOST

    @property
    def port(self) -> int:
        return int(self._controller.port)

    def start(self) -> SmtpServer:
        self._running = True  # before: a start that fails half-way has a thread for stop() to end
        self._controller.start()
        # aiosmtpd opened a connection of its own to start up: it is not a client's session.
        with self.lock:
            self.sessions.clear()
            self._armed = True
            if self.script.busy_seconds > 0:
                self._busy_until = self.clock() + self.script.busy_seconds
        return self

    def stop(self) -> None:
        """Stop serving; again, or before it started, nothing happens (tests stop a server for an
        outage, and the ``servers`` fixture stops every one after the test)."""
        if self._running:
            self._running = False
            self._controller.stop(no_assert=True)

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def client_tls_context(self) -> ssl.SSLContext:
        """A client context that trusts this server's test CA (and verifies as usual)."""
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context

    def channel_options(self, **extra: Any) -> dict[str, Any]:
        """The SMTP channel settings that point at this server (sender, recipients and secret are the test's)."""
        return {"host": self.host, "port": self.port, "ca_file": str(self.ca_file), "timeout": 5, **extra}


class ServerFactory(Protocol):
    def __call__(self, script: Script | None = None, *, username: str = ..., password: str = ...) -> SmtpServer: ...


@pytest.fixture
def smtp_server_factory(tmp_path: Path, servers: Servers) -> ServerFactory:
    """``make(script=..., username=..., password=...)`` starts a server, stopped after the test."""
    numbers = itertools.count()

    def make(
        script: Script | None = None, *, username: str = "smtp-user", password: str = "smtp-password"
    ) -> SmtpServer:
        directory = tmp_path / f"server{next(numbers)}"
        return servers.start(SmtpServer(directory, username=username, password=password, script=script))

    return make
