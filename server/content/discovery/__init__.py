"""Discovery: hot, following, featured and recommended lists; sharing; featuring by admins."""
