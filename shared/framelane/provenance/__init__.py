"""Content Credentials (C2PA) on every rendered output: who made it, from what source, and what the AI changed.

`credentials`: the signing identity (operator chain + key or KMS, or an untrusted development CA), checked at
start. `manifest`: what a manifest says. `signing`: sign an output (embedded, sidecar, or each PNG frame).
`verify`: read and validate Content Credentials (the worker's report and `framelane verify`).
"""
