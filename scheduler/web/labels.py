"""What the staff pages call things; feeds keep their own, discreet titles (feeds/render.py)."""

KIND_LABELS = {
    "group": "Group therapy", "individual": "Individual therapy",
    "behavioral": "Behavioural skills (CBT/DBT)", "family": "Family", "education": "Education",
    "medical": "Medication management", "peer_support": "Peer support",
    "assessment": "Assessment", "case_management": "Case management",
}
