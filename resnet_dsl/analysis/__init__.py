"""Analyses of a validated network: summary tables, receptive field, memory."""
