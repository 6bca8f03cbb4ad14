"""The tables of the privacy wing (see server/privacy/)."""
