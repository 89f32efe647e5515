"""Finding runs and what they consumed: the project's record of its own history."""
