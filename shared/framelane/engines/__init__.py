"""Frame engines: one module per model behind the FrameEngine protocol, chosen per task type."""
