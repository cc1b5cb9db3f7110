"""The ``ckpt`` command line: ls, show, diff, verify and latest, built on the public API."""
