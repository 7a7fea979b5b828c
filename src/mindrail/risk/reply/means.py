"""Method or means information: lethal doses, heights, poisons, weapons, rail and traffic. Height and access facts fail
only when the conversation holds suicide or self-harm risk.
"""

from __future__ import annotations

from mindrail.risk.reply.base import PatternCheck


class MeansCheck(PatternCheck):
    name = "means"
