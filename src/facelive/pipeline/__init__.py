"""The liveness pipeline: decode -> detect -> choose -> crop -> score -> verdict.

Plain functions over numpy arrays and the frozen values in ``facelive.types``; nothing here
knows about HTTP, keys or the command line.
"""
