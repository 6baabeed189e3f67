"""What the Task controller decides: when a schedule fires, the Runs a fire creates, history, the Task's status."""
