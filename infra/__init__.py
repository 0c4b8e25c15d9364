"""Framelane CDK app: one construct per capability, composed in a thin stack."""
