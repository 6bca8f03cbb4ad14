"""Search: published content found by words in Chinese and other languages, with filters."""
