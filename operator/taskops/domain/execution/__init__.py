"""What one Run executes and decides: its pinned Task version, Jobs, attempts, batch inputs and results, `decide`."""
