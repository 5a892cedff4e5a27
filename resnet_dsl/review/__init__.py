"""Reading and reviewing specs: canonical formatting, architectural diff, pictures."""
