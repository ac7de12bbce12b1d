"""A checkbox that is empty when off."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Checkbox


class TickBox(Checkbox):
    """Textual's Checkbox draws an X whether it is on or off and tells the
    two apart by colour alone: the load test form's "compare" looked ticked
    either way. This one draws the X only when on."""

    @property
    def _button(self) -> Content:
        self.BUTTON_INNER = "X" if self.value else " "
        return super()._button
