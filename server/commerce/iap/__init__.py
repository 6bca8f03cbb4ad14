"""In-app purchases from the App Store and Google Play."""
