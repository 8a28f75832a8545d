"""Delivery channels, one module each, chosen by the ``type`` of a channel's settings."""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from typing import Any

from trailguard.core.exceptions import ConfigError
from trailguard.services.channels.base import Channel, ChannelContext, Options

# type -> (module, class). Modules are imported only when a channel of that type is configured.
CHANNEL_TYPES: dict[str, tuple[str, str]] = {
    "smtp": ("smtp_email", "SmtpEmailChannel"),
    "ses": ("ses_email", "SesEmailChannel"),
    "slack": ("slack", "SlackChannel"),
    "teams": ("teams", "TeamsChannel"),
    "sns": ("sns", "SnsChannel"),
    "webhook": ("webhook", "WebhookChannel"),
    "folder": ("folder", "FolderChannel"),
    "securityhub": ("securityhub", "SecurityHubChannel"),
}


def channel_class(kind: str) -> type[Channel]:
    module_name, class_name = CHANNEL_TYPES[kind]
    module = importlib.import_module(f"{__name__}.{module_name}")
    cls: type[Channel] = getattr(module, class_name)
    return cls


def build_channel(raw: Mapping[str, Any], where: str, context: ChannelContext) -> Channel:
    """One channel from its settings table; ``ConfigError`` names ``where`` and the key."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a table, got {type(raw).__name__}")
    kind = raw.get("type")
    if kind not in CHANNEL_TYPES:
        raise ConfigError(f"{where}: type: must be one of {', '.join(CHANNEL_TYPES)}, got {kind!r}")
    options = Options(raw, where)
    channel = channel_class(str(kind))(options, context)
    options.finish()
    return channel


def build_channels(configs: Iterable[Mapping[str, Any]], context: ChannelContext, origin: str = "") -> list[Channel]:
    """The channels of the settings' tables, every option validated (this is where channel
    settings are checked); errors start with ``origin``, where the tables came from
    (``Settings.origin("channels")``), and name the entry and the key."""
    prefix = f"{origin}: " if origin else ""
    channels: list[Channel] = []
    for index, raw in enumerate(configs, start=1):
        where = f"{prefix}channels entry {index}"
        channel = build_channel(raw, where, context)
        if any(existing.name == channel.name for existing in channels):
            raise ConfigError(f"{where}: name: {channel.name!r} is used twice (names must differ)")
        channels.append(channel)
    return channels


__all__ = ["CHANNEL_TYPES", "Channel", "ChannelContext", "Options", "build_channel", "build_channels", "channel_class"]
