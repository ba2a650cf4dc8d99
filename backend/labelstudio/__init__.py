"""What Label Studio sends and accepts: wire format, labeling configs, webhook bodies, its SDK (no Flask, no Redis)."""
