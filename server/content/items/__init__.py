"""Content: articles, audio, video, courses; drafts, versions, lifecycle, access policy."""
