"""The local stack: a signing dev IdP, the emulator wiring, serve/demo/bench tools."""
