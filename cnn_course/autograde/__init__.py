"""The autograder: nbgrader underneath, every student's code in a sandbox, verdicts outside it."""
