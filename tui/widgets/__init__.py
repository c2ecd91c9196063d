"""The review app's widgets: one module each."""
