"""What a rule module needs, for your own rules: see the README, "Writing your own rules".

```python
from trailguard.rules import Hit, Resource, Severity, rule
```

Re-exports only: the registry, the engine and the settings stay where they are, so that these names
can stay the same while the code behind them moves.
"""

from __future__ import annotations

from trailguard.core.actors import made_by_person
from trailguard.core.base_handler import RuleContext, rule
from trailguard.core.enums import FindingKind, Severity
from trailguard.core.event_types import CloudTrailEvent, Hit, Resource

__all__ = ["CloudTrailEvent", "FindingKind", "Hit", "Resource", "RuleContext", "Severity", "made_by_person", "rule"]
