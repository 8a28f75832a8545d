"""Alerts to messages: one module per format, each imported only by the channel that sends it.

- ``view``: what every format shows (``FindingView``, ``DigestView``, the subject line), with event
  text made safe to show by ``visible()``;
- ``email``: HTML and plain text through Jinja2 templates (``templates/``);
- ``slack``, ``teams``: Block Kit and Adaptive Card payloads;
- ``webhook``: the findings as JSON; ``sns``: a subject and the plain-text body.

Everything that comes from an event is attacker-controlled. It goes through two steps:

1. ``view.visible()``: made safe to *show* in any medium. Control characters become their Unicode
   control pictures (a CR/LF in a user name shows as ``␍␊`` and can never start a new header or
   line), invisible format characters (bidi overrides such as U+202E, zero-width spaces) are
   spelled out as ``⟨U+202E⟩`` so they cannot disguise text, lone surrogates become U+FFFD, and a
   long value is cut with a visible note of how much was left out.
2. Escaped for its target: HTML by Jinja2's autoescape; Slack mrkdwn (``& < >`` as entities, so a
   ``<!channel>`` or ``<https://evil|link>`` arrives as text, and formatting characters that could
   open or close *bold*, _italics_, ~strike~ or `code` swapped for look-alikes; identifiers shown in
   code spans); Adaptive Card markdown (backslash escapes); JSON by its encoder.

Links are built in ``services/links.py`` from validated parts only. This file imports nothing, so
that importing one format's module does not load the others.
"""
