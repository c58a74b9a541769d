"""What the tasks panel and settings UI ask: journal rows, a task's result file, the account (key and credits)."""
