"""The server side: the run queue, submission checks, workspace policy, sessions, the instructor view, worker lifetime."""
