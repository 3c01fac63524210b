"""Operator tools (``rudder-braze trace``, ``replay``, ``delete-users``): they run on an operator's machine against
a deployed environment or ``make local``, never inside the functions."""
