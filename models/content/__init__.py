"""The tables of the content wing (see server/content/)."""
