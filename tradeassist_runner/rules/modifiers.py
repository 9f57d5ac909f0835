"""(placeholder until the modifiers module lands)"""
from __future__ import annotations
Timezone = str
HoursRange = str
Weekday = str
CalendarCode = str
