"""Session views, one module per screen family (navigation, history, exports)."""
