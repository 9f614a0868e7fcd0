"""Waiting-list rules: the pure technical validation kernel (`technical`). No Django imports here,
so the kernel runs in benchmarks and notebooks without settings. (Permissions live in
`waitinglist.permissions`, imported by the app config.)"""
