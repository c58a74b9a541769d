"""The record of what was asked and paid: journal entries, their verdict, and the journal's two stores."""
