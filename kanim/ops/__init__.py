"""Operating kanim: running nodes as processes (drills, the outage scenario), backups later."""
