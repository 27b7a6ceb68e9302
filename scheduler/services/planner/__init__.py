"""The schedule planner: a proposal that meets each client's plan around their life (issue 18)."""
