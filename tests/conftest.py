"""Every test run uses the strict outbound policy: only 127.0.0.1 may ever be fetched."""

import os

os.environ["FRAMELANE_OUTBOUND_POLICY"] = "allowlist"
os.environ["FRAMELANE_ALLOWED_NETWORKS"] = "127.0.0.1/32"
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "FramelaneTests")
