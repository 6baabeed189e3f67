"""Admission: which waiting Runs start now (Kueue's shape), and why the others wait."""
