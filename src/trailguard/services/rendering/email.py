"""Email: the subject line, an HTML body and its plain-text twin, from Jinja2 templates.

Templates live in ``services/templates/`` (HTML with autoescape on and CSS written inline, so
nothing has to be inlined at run time; plain text with autoescape off). Jinja2 is imported, and its
environment built, on first use: no other module imports it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from trailguard.services.alerts import Alert
from trailguard.services.rendering.view import SEVERITY_STYLES, code_spans, digest_view, subject_line, view_of

if TYPE_CHECKING:
    from jinja2 import Environment
    from markupsafe import Markup

DIGEST_EMAIL_ROWS = 200


class EmailContent(NamedTuple):
    subject: str
    html: str
    text: str


_ENVIRONMENT: Environment | None = None


def _rich(text: str) -> Markup:
    """Rule text with `code` in backticks, as escaped HTML with <code> elements (styled inline)."""
    from markupsafe import Markup, escape

    style = (
        "font-family:SFMono-Regular,Menlo,Consolas,Liberation Mono,monospace;font-size:13px;"
        "background:#f3f4f6;border:1px solid #e5e7eb;border-radius:4px;padding:1px 4px;"
        "color:#111827;overflow-wrap:anywhere;word-break:normal"
    )
    parts: list[str] = []
    for prose, code in code_spans(text):
        parts.append(str(escape(prose)))
        if not code:
            continue
        # Keep each option or argument on one line (a command broken between "--" reads wrong);
        # a token too long for a phone may still wrap.
        tokens = [
            f'<span style="white-space:nowrap;">{escape(token)}</span>' if 0 < len(token) <= 40 else str(escape(token))
            for token in code.split(" ")
        ]
        parts.append(f'<code style="{style}">{" ".join(tokens)}</code>')
    return Markup("".join(parts))


def _wrap(text: str, width: int = 76, indent: str = "  ") -> str:
    """Paragraphs filled for the plain-text body; long identifiers are left whole rather than split."""
    import textwrap

    return "\n".join(
        textwrap.fill(
            line,
            width,
            initial_indent=indent,
            subsequent_indent=indent,
            break_long_words=False,
            break_on_hyphens=False,
        )
        for line in text.split("\n")
    )


def environment() -> Environment:
    """The Jinja2 environment, built on first use (import and template parsing cost on cold start)."""
    global _ENVIRONMENT
    if _ENVIRONMENT is None:
        from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

        env = Environment(
            loader=PackageLoader("trailguard.services", "templates"),
            autoescape=select_autoescape(
                enabled_extensions=("html",), disabled_extensions=("txt",), default_for_string=True, default=True
            ),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        env.filters["rich"] = _rich
        env.filters["wrap"] = _wrap
        _ENVIRONMENT = env
    return _ENVIRONMENT


def _template_context(alert: Alert) -> dict[str, Any]:
    context: dict[str, Any] = {
        "subject": subject_line(alert),
        "test": alert.test,
        "band": SEVERITY_STYLES[alert.severity].colour,
    }
    if alert.digest:
        context["digest"] = digest_view(alert, DIGEST_EMAIL_ROWS)
    else:
        context["f"] = view_of(alert.first)
    return context


def _render(alert: Alert, extension: str, context: dict[str, Any]) -> str:
    name = "digest" if alert.digest else "finding"
    return environment().get_template(f"{name}.{extension}").render(context)


def render_email(alert: Alert) -> EmailContent:
    """Subject, HTML body (inline CSS, tables, no scripts or remote images) and a plain-text twin."""
    context = _template_context(alert)
    return EmailContent(context["subject"], _render(alert, "html", context), _render(alert, "txt", context))


def render_text(alert: Alert) -> str:
    """The plain-text body alone (SNS sends it)."""
    return _render(alert, "txt", _template_context(alert))
