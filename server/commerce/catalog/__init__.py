"""Products for sale: content items, courses, plans, credit packs and physical goods."""
