"""HTTP helpers both roles' apps use, and nothing of either role: problem+json (problems), how
values look on the wire (wire), the body-size limit (limits). kanim/web is the office's app."""
