"""The exception hierarchy of hip3term.

Hip3Error
├── ConfigError          a configuration file, variable or flag is invalid (exit status 2)
├── KeyLoadError         a private key or keystore cannot be used (exit status 2)
├── MarketError          a market name cannot be resolved, or an order breaks its rules
├── SigningError         an action cannot be hashed or signed as given
├── NonceError           the nonce clock drifted too far from the exchange
└── RecordingError       a file is missing, not a recording, or of another format version

Business refusals (risk denials, exchange rejects) are events, not exceptions. Every error
carries a short `title` for the TUI and the CLI, and a message that says what is wrong and
what is allowed.
"""

from __future__ import annotations


class Hip3Error(Exception):
    """Base class of every error hip3term raises on purpose."""

    title = "error"
    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(Hip3Error):
    """A configuration value is invalid; the message names the file, field and value."""

    title = "configuration error"
    exit_code = 2


class KeyLoadError(Hip3Error):
    """A key or keystore cannot be loaded; the message never contains key material."""

    title = "key error"
    exit_code = 2


class MarketError(Hip3Error):
    """A market cannot be resolved, or a price/size breaks the market's rules."""

    title = "market error"
    exit_code = 2


class SigningError(Hip3Error):
    """An action cannot be hashed or signed as given."""

    title = "signing error"
    exit_code = 2


class NonceError(Hip3Error):
    """The local clock and the exchange's clock disagree by more than the hard limit."""

    title = "nonce error"


class RecordingError(Hip3Error):
    """A recording cannot be read: missing, not a recording, or of another format version."""

    title = "recording error"
    exit_code = 2
