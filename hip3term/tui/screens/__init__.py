"""Screens of the workstation: main, help and the confirmation modals."""
