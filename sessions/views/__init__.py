"""Session views, one module per screen family (home, navigation, history, exports)."""
