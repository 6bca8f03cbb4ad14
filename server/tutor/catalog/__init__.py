"""The tutor catalogue: AI models with their provider routes and prices, and personas."""
