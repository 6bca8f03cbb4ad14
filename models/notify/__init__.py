"""The tables of the notify wing (see server/notify/)."""
