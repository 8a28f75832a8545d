"""The folder channel: real files in a temporary directory, the .eml parsed back as a mail client would."""

from __future__ import annotations

import email
import email.policy
import re
from email.message import EmailMessage
from pathlib import Path

import pytest

from trailguard.core.exceptions import ChannelError, ConfigError
from trailguard.services.alerts import Alert
from trailguard.services.channels import ChannelContext, build_channel
from trailguard.services.channels.folder import FolderChannel, file_stem
from trailguard.services.rendering.email import render_email

from .test_channels_http import HOSTILE, LOW, NORMAL

SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\.(eml|html)")
BOM = b"\xef\xbb\xbf"


def folder_channel(path: Path) -> FolderChannel:
    channel = build_channel({"type": "folder", "path": str(path)}, "folder test", ChannelContext())
    assert isinstance(channel, FolderChannel)
    return channel


def parse_eml(path: Path) -> EmailMessage:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def html_text(path: Path) -> str:
    return path.read_bytes().removeprefix(BOM).decode("utf-8")


def all_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_an_alert_becomes_an_eml_and_an_html_file(tmp_path: Path) -> None:
    outbox = tmp_path / "nested" / "outbox"
    receipt = folder_channel(outbox).send(Alert((NORMAL,)))
    html_path = Path(receipt)
    eml_path = html_path.with_suffix(".eml")
    assert html_path.parent == outbox.resolve() and html_path.suffix == ".html"
    assert all_files(tmp_path) == [eml_path, html_path]
    assert html_path.stem == f"20261102T140511Z_critical_{NORMAL.rule_id}_{html_path.stem.rsplit('_', 1)[1]}"

    content = render_email(Alert((NORMAL,)))
    assert html_text(html_path) == content.html
    message = parse_eml(eml_path)
    assert message["Subject"] == content.subject
    assert message["From"] and message["Date"] and message["Message-ID"]
    assert message["X-Trailguard-Severity"] == "CRITICAL" and message["X-Trailguard-Rule"] == NORMAL.rule_id
    assert message.get_content_type() == "multipart/alternative"
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert plain is not None and html is not None
    assert plain.get_content().rstrip("\n") == content.text.rstrip("\n")
    assert html.get_content().rstrip("\n") == content.html.rstrip("\n")


def test_files_are_never_overwritten(tmp_path: Path) -> None:
    channel = folder_channel(tmp_path)
    first = Path(channel.send(Alert((NORMAL,))))
    before = first.read_bytes(), first.with_suffix(".eml").read_bytes()
    second = Path(channel.send(Alert((NORMAL,))))
    assert second != first and second.name == f"{first.stem}-2.html"
    assert (first.read_bytes(), first.with_suffix(".eml").read_bytes()) == before
    # Someone else's file with the next name: left alone, and no orphaned .eml beside it.
    theirs = tmp_path / f"{first.stem}-3.html"
    theirs.write_text("mine")
    third = Path(channel.send(Alert((NORMAL,))))
    assert third.name == f"{first.stem}-4.html"
    assert theirs.read_text() == "mine" and not theirs.with_suffix(".eml").exists()
    assert len(all_files(tmp_path)) == 7


def test_event_text_cannot_steer_files_outside_the_folder(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    channel = folder_channel(outbox)
    receipts = [channel.send(Alert((HOSTILE,))), channel.send(Alert((HOSTILE, LOW), digest=True))]
    files = all_files(tmp_path)
    assert len(files) == 4 and all(path.parent == outbox for path in files)
    assert all(SAFE_NAME.fullmatch(path.name) for path in files), [p.name for p in files]
    assert not any("passwd" in path.name or "pwned" in path.name or "evil-id" in path.name for path in files)
    assert Path(receipts[0]).name.startswith("unknown-time_high_etc-evil-rule_")
    assert "_high_digest-2_" in Path(receipts[1]).name


def test_an_event_time_of_unicode_digits_gives_an_ascii_file_name(tmp_path: Path) -> None:
    odd = NORMAL._replace(event_time="\u0662\u0660\u0662\u0666-\uff11\uff11-03T10:41:07Z")
    receipt = Path(folder_channel(tmp_path / "outbox").send(Alert((odd,))))
    assert receipt.name.isascii() and SAFE_NAME.fullmatch(receipt.name), receipt.name


def test_hostile_values_cannot_inject_email_headers_or_markup(tmp_path: Path) -> None:
    receipt = Path(folder_channel(tmp_path).send(Alert((HOSTILE,))))
    message = parse_eml(receipt.with_suffix(".eml"))
    assert message["Bcc"] is None and len(message.get_all("From") or []) == 1
    assert "\n" not in str(message["Subject"]) and "\r" not in str(message["Subject"])
    html = html_text(receipt)
    assert "<script>alert(1)</script>" not in html and "<img src=x" not in html
    assert "&lt;script&gt;" in html


def test_a_test_alert_is_marked_in_its_file_name(tmp_path: Path) -> None:
    receipt = folder_channel(tmp_path).send(Alert((NORMAL,), test=True))
    assert Path(receipt).name.startswith("test_20261102T140511Z_critical_")


def test_the_name_hash_tells_different_findings_apart() -> None:
    other = NORMAL._replace(event_id="another-event")
    assert file_stem(Alert((NORMAL,))) != file_stem(Alert((other,)))
    assert file_stem(Alert((NORMAL,))) == file_stem(Alert((NORMAL,)))


def test_an_unwritable_folder_is_a_permanent_error_naming_it(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    with pytest.raises(ChannelError) as caught:
        folder_channel(blocker / "outbox").send(Alert((NORMAL,)))
    assert not caught.value.transient and str(blocker) in str(caught.value)


def test_path_is_required() -> None:
    with pytest.raises(ConfigError, match="folder test: path: is required"):
        build_channel({"type": "folder"}, "folder test", ChannelContext())


def test_the_eml_carries_the_headers_an_email_channel_sends(tmp_path: Path) -> None:
    from trailguard.services.email_message import alert_id, build_message

    channel = build_channel(
        {"type": "folder", "path": str(tmp_path), "sender": "tg@example.com", "recipients": ["sec@example.com"]},
        "folder test",
        ChannelContext(),
    )
    for alert in (Alert((NORMAL,)), Alert((HOSTILE, LOW), digest=True)):
        message = parse_eml(Path(channel.send(alert)).with_suffix(".eml"))
        sent = email.message_from_bytes(
            build_message(alert, "tg@example.com", ["sec@example.com"]).as_bytes(), policy=email.policy.default
        )
        names = [name for name in sent if name != "Date"]
        assert "To" in names and "X-Trailguard-Alert-ID" in names
        assert [name for name in message if name != "Date"] == names
        for name in names:
            if name == "Content-Type":  # the MIME boundary is random
                assert message.get_content_type() == sent.get_content_type()
            else:
                assert str(message[name]) == str(sent[name]), name
        assert message["To"] == "sec@example.com" and message["X-Trailguard-Alert-ID"] == alert_id(alert)


def test_the_eml_has_placeholder_addresses_by_default(tmp_path: Path) -> None:
    message = parse_eml(Path(folder_channel(tmp_path).send(Alert((NORMAL,)))).with_suffix(".eml"))
    assert str(message["To"]).endswith("@trailguard.invalid")
    assert str(message["From"]).endswith("@trailguard.invalid>")


def test_a_bad_recipient_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="recipients"):
        build_channel(
            {"type": "folder", "path": str(tmp_path), "recipients": ["a@example.com\nBcc: x@evil.example"]},
            "folder test",
            ChannelContext(),
        )
