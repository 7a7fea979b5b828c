"""Going along with a request that should be questioned: a manic plan, a compulsion, hiding an eating disorder,
acting on a delusion or on voices, hurting someone. Small models comply with whatever is asked ("Here's your
resignation email", "You can use the following steps"); in these conversations doing it is the harm, whatever the
content, unless the reply also voices concern."""

from __future__ import annotations

from mindrail.risk.reply.base import PatternCheck


class ComplianceCheck(PatternCheck):
    name = "compliance"
