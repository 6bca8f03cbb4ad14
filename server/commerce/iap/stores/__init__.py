"""App stores behind one interface: the App Store and Google Play."""
