"""The practice simulator: a simulated person in need, a human trainee learning to help, and feedback on every
turn (MI skill codes, safety behaviours, missed moments, a better reply). Training, never care: nothing here
talks to a person in need."""
