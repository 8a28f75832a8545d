"""Rule modules, one per AWS service domain. Importing a module registers its rules.

Importing this package installs ``CATALOGUE`` into the registry. It routes events by the
generated ``_manifest`` (`make generated`), so the Lambda imports only the modules an event can
concern (importing all of them is a noticeable part of a cold start), and knows every rule id
without importing any module.
"""

from __future__ import annotations

import importlib

from trailguard.core.base_handler import REGISTRY
from trailguard.core.enums import Severity
from trailguard.handlers import _manifest


class ManifestCatalogue:
    """The built-in rules, as the manifest lists them (a ``RuleCatalogue``)."""

    def rule_ids(self) -> tuple[str, ...]:
        return tuple(_manifest.RULES)

    def top_severities(self) -> dict[str, Severity]:
        return {rule_id: Severity[name] for rule_id, name in _manifest.TOP_SEVERITY.items()}

    def modules(self) -> tuple[str, ...]:
        """Every rule module in this package, read from the package itself: the manifest is
        generated from what they register, so it cannot be what finds them."""
        import pkgutil

        return tuple(sorted(info.name for info in pkgutil.iter_modules(__path__) if not info.name.startswith("_")))

    def load_all(self) -> None:
        for name in self.modules():
            importlib.import_module(f"{__name__}.{name}")

    def modules_for(self, event_source: str, identity_type: str = "") -> tuple[str, ...]:
        """The modules whose rules an event of this source and caller type may fire."""
        wanted = _manifest.BY_SOURCE.get(event_source, ()) + _manifest.BY_IDENTITY_TYPE.get(identity_type, ())
        return (*dict.fromkeys(wanted), *_manifest.WATCHERS) if wanted else ()

    def load_for(self, event_source: str, identity_type: str = "") -> None:
        for name in self.modules_for(event_source, identity_type):
            importlib.import_module(f"{__name__}.{name}")


CATALOGUE = ManifestCatalogue()
REGISTRY.install(CATALOGUE)
