"""Media: uploads checked by content, processed by media workers, served by signed links."""
