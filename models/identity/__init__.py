"""The tables of the identity wing (see server/identity/)."""
