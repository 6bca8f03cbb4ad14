"""The tables of the social wing (see server/social/)."""
