"""TCAP: transactions, dialogues and components for CAP."""
