"""What the console's desks read: lists and searches, one module per desk, each one read-only
unit of work. The web layer asks these and renders; it holds no SQL of its own."""
