"""The tables of the commerce wing (see server/commerce/)."""
